"""Training throughput of the autoencoder's `fit` setup against the handout's plain `model.fit(x, x)`.

    .venv/bin/python bench/autoencoder_bench.py [--filters 8,16,32] [--batch-size 128] [--epochs 1]

On scikit-learn's bundled digits (1,347 training images, offline), each variant trains the same
freshly built autoencoder (models.autoencoder, same seed) for --epochs epochs per timed run:
  plain fit       the baseline: `model.compile(Adam, BCE)` with Keras' defaults, `model.fit(x, x)`
                  on NumPy arrays (what the handout's code does)
  plain, no XLA   the same with `jit_compile=False` (what XLA brings on this machine)
  ours            utilities.autoencoder: `compile_autoencoder` + the tf.data pipeline of
                  `training_pairs` (each epoch's order a stateless shuffle keyed on the seed and the
                  epoch, so --resume continues exactly; next batch prepared while one trains)
  noisy, NumPy    denoising the handout's way: a new `x + np.random.normal(0, 1, x.shape)` copy
                  made on the host before every epoch, then `model.fit(noisy, x)`
  noisy, ours     denoising with the noise drawn inside the pipeline (stateless, seeded)
Images/s are the best of --repeats runs after one warm-up epoch (compilation), the variants taking
turns so that load from other processes hits them alike; ratios are against `plain fit`, or
against `noisy, NumPy` for the denoisers, measured in the same process. Numbers depend on the
machine and its load; only the ratios mean something.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filters", default="8,16,32", help="encoder widths (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default %(default)s)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed run (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant (default %(default)s)")
    args = p.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    import keras
    import numpy as np

    from models.autoencoder import build_autoencoder
    from utilities.autoencoder.config import parse_filters
    from utilities.autoencoder.data import steps_per_epoch, training_pairs
    from utilities.autoencoder.training import compile_autoencoder
    from utilities.digits import load_image_set

    x = load_image_set("digits").x_train
    widths, batch = parse_filters(args.filters), args.batch_size
    rng = np.random.default_rng(0)

    def model(jit="auto", ours=False):
        keras.utils.set_random_seed(0)
        net = build_autoencoder(filters=widths).autoencoder
        if ours:
            return compile_autoencoder(net, jit_compile=jit)
        net.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit)
        return net

    def numpy_noisy(net, epochs):
        for _ in range(epochs):
            noisy = (x + rng.normal(0.0, 1.0, x.shape)).astype(np.float32)
            net.fit(noisy, x, batch_size=batch, epochs=1, verbose=0)

    nets = {name: model(**kw) for name, kw in {
        "plain fit": {}, "plain, no XLA": {"jit": False}, "ours": {"ours": True},
        "noisy, NumPy": {}, "noisy, ours": {"ours": True}}.items()}
    # one endless stream each (epoch after epoch, as autoencoder.py feeds `fit`), cut into epochs by steps_per_epoch
    clean, noisy = training_pairs(x, batch, 0), training_pairs(x, batch, 0, noise_std=1.0)
    steps = steps_per_epoch(len(x), batch)
    runs = {
        "plain fit": lambda e: nets["plain fit"].fit(x, x, batch_size=batch, epochs=e, verbose=0),
        "plain, no XLA": lambda e: nets["plain, no XLA"].fit(x, x, batch_size=batch, epochs=e, verbose=0),
        "ours": lambda e: nets["ours"].fit(clean, epochs=e, steps_per_epoch=steps, verbose=0, shuffle=False),
        "noisy, NumPy": lambda e: numpy_noisy(nets["noisy, NumPy"], e),
        "noisy, ours": lambda e: nets["noisy, ours"].fit(noisy, epochs=e, steps_per_epoch=steps, verbose=0,
                                                         shuffle=False),
    }
    for run in runs.values():
        run(1)  # warm-up: tracing and XLA compilation
    best = dict.fromkeys(runs, 0.0)
    for _ in range(args.repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run(args.epochs)
            best[name] = max(best[name], args.epochs * len(x) / (time.perf_counter() - started))
    print(f"autoencoder training, widths {args.filters}, batch {batch}, {len(x)} digits x {args.epochs} epochs, "
          f"best of {args.repeats}")
    print(f"{'variant':<16}{'images/s':>10}{'ratio':>8}")
    for name, rate in best.items():
        base = best["noisy, NumPy" if name.startswith("noisy") else "plain fit"]
        print(f"{name:<16}{rate:>10.0f}{rate / base:>7.2f}x")


if __name__ == "__main__":
    main()
