"""autoencoder.py's training epoch against the handout's plain `model.fit(x, x)`, same network, same batch.

    .venv/bin/python bench/autoencoder_bench.py [--dataset fashion_mnist] [--images 1280] [--filters 32,64,128]
                                                [--batch-size 128] [--rounds 7] [--no-noisy]

On --images real training images of --dataset (default: Fashion-MNIST from the Debian package,
autoencoder.py's default data; its default widths and batch), each variant trains its own copy of
the same freshly built autoencoder (models.autoencoder, same seed) for one epoch per round:

  plain model.fit   the baseline, the peer recipe: `model.compile(optimizer="adam",
                    loss="binary_crossentropy")` with Keras' defaults (XLA on, as Keras 3's "auto"
                    gives on any device), `model.fit(x, x, batch_size, shuffle=True)` on NumPy arrays
  plain, no XLA     the same with `jit_compile=False`
  autoencoder.py    utilities.autoencoder: `compile_autoencoder` (Adam, BCE, an MSE metric, XLA only
                    on a GPU) and `fit` on the tf.data stream of `training_pairs` (each epoch a stateless
                    shuffle keyed on the seed and the epoch, the next batch prepared while one trains)
  bare step         the bound for any `fit`-based program: a hand-written tf.function step (tape, BCE,
                    Adam) over batches already in memory, no Keras `fit` machinery, no metric
  noisy, NumPy      denoising the handout's way: a fresh `x + np.random.normal(0, 1, x.shape)` copy
                    made on the host before each epoch, then the plain `model.fit(noisy, x)`
  noisy, ours       denoising with the noise drawn inside the pipeline (stateless, seeded)

The per-epoch callbacks of autoencoder.py (TensorBoard, reconstructions, checkpoint, bar) are left
out on both sides. Rounds are interleaved (bench/_interleave.py): every variant trains one epoch per
round, the order reversed every other round, after one warm-up epoch each (tracing, XLA
compilation); ratios are per round, against `plain model.fit` (`noisy, NumPy` for `noisy, ours`).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion_mnist", help="utilities.digits image set (default %(default)s)")
    p.add_argument("--images", type=int, default=1280, help="training images per epoch (default %(default)s)")
    p.add_argument("--filters", default="32,64,128", help="encoder widths (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default %(default)s)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default %(default)s)")
    p.add_argument("--no-noisy", action="store_true", help="leave the two denoising variants out")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    import keras
    import numpy as np
    import tensorflow as tf
    from _interleave import interleaved, table

    from models.autoencoder import build_autoencoder
    from utilities.autoencoder.config import parse_filters
    from utilities.autoencoder.data import steps_per_epoch, training_pairs
    from utilities.autoencoder.training import compile_autoencoder
    from utilities.digits import load_image_set

    x = np.asarray(load_image_set(args.dataset).x_train[:args.images], np.float32)
    widths, batch = parse_filters(args.filters), args.batch_size
    rng = np.random.default_rng(0)

    def model(jit="auto", ours=False):
        keras.utils.set_random_seed(0)
        net = build_autoencoder(filters=widths).autoencoder
        if ours:
            return compile_autoencoder(net)
        net.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit)
        return net

    steps = steps_per_epoch(len(x), batch)
    # one endless stream each (epoch after epoch, as autoencoder.py feeds `fit`), cut into epochs by steps_per_epoch
    clean, noisy = training_pairs(x, batch, 0), training_pairs(x, batch, 0, noise_std=1.0)
    nets = {"plain model.fit": model(), "plain, no XLA": model(jit=False), "autoencoder.py": model(ours=True)}
    if not args.no_noisy:
        nets |= {"noisy, NumPy": model(), "noisy, ours": model(ours=True)}

    def plain(net):
        def run():
            net.fit(x, x, batch_size=batch, epochs=1, shuffle=True, verbose=0)
            return len(x)
        return run

    def ours(net, stream):
        def run():
            net.fit(stream, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
            return len(x)
        return run

    def numpy_noisy(net):
        def run():
            inputs = (x + rng.normal(0.0, 1.0, x.shape)).astype(np.float32)
            net.fit(inputs, x, batch_size=batch, epochs=1, shuffle=True, verbose=0)
            return len(x)
        return run

    bare_net = model(jit=False)
    bare_optimizer = keras.optimizers.Adam(1e-3)
    bce = keras.losses.BinaryCrossentropy()
    batches = [tf.constant(x[i:i + batch]) for i in range(0, len(x), batch)]

    @tf.function
    def bare_step(images):
        with tf.GradientTape() as tape:
            loss = bce(images, bare_net(images, training=True))
        grads = tape.gradient(loss, bare_net.trainable_variables)
        bare_optimizer.apply_gradients(zip(grads, bare_net.trainable_variables, strict=True))
        return loss

    def bare():
        for images in batches:
            loss = bare_step(images)
        float(loss)
        return len(x)

    variants = {"plain model.fit": plain(nets["plain model.fit"]), "plain, no XLA": plain(nets["plain, no XLA"]),
                "autoencoder.py": ours(nets["autoencoder.py"], clean), "bare step": bare}
    if not args.no_noisy:
        variants |= {"noisy, NumPy": numpy_noisy(nets["noisy, NumPy"]), "noisy, ours": ours(nets["noisy, ours"], noisy)}
    rates = interleaved(variants, args.rounds, warmup=1)
    print(f"autoencoder epoch against a plain model.fit: {args.dataset}, {len(x)} real training images "
          f"({steps} steps), widths {args.filters}, batch {batch}, {tf.config.list_physical_devices()[-1].name}, "
          f"{os.cpu_count()} CPUs seen")
    print("\n".join(table(rates, "plain model.fit", "images", baselines={"noisy, ours": "noisy, NumPy"})))


if __name__ == "__main__":
    main()
