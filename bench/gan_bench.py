"""Training throughput of the GAN step: compiled (one tf.function, two tapes) against the same step eager.

    .venv/bin/python bench/gan_bench.py [--batch-size 64] [--width 32] [--steps 3] [--repeats 2]

For the DCGAN and the cDCGAN at the tool's default width (half its batch, to stay short) it
times, on one batch of real digits repeated (no input pipeline in the way):
  eager     the baseline: `GanTrainer.step` called directly, op by op
  compiled  `GanTrainer.train_step`, the tf.function `gan.py` uses
  xla       the same step compiled with XLA (`jit_compile=True`), for comparison
Images/s are the best of --repeats timed runs of --steps steps after 2 warm-up steps (tracing),
the variants taking turns so that load from other processes hits them alike; the ratio column
is against the eager step of the same model, measured in the same process. Numbers depend on
the machine and its load; only the ratios are meant to be compared.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--steps", type=int, default=3, help="timed steps per run")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per variant (best kept)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    import tensorflow as tf

    from utilities.gan import GanConfig
    from utilities.gan.data import load_gan_images
    from utilities.gan.trainer import GanTrainer

    data = load_gan_images("digits")
    real = tf.constant(data.x_train[:args.batch_size])
    labels = tf.constant(data.y_train[:args.batch_size])
    device = tf.config.list_physical_devices()[-1].name
    print(f"GAN training step, batch {args.batch_size}, width {args.width}, {device}")
    print(f"{'model':8s} {'variant':9s} {'images/s':>9s} {'vs eager':>9s}")
    for model in ("dcgan", "cdcgan"):
        trainer = GanTrainer(GanConfig(model=model, width=args.width, batch_size=args.batch_size))
        variants = {"eager": trainer.step, "compiled": trainer.train_step,
                    "xla": tf.function(trainer.step, jit_compile=True)}
        for step in variants.values():
            for _ in range(2):
                step(real, labels)["d_loss"].numpy()
        best = dict.fromkeys(variants, 0.0)
        for _ in range(args.repeats):
            for name, step in variants.items():
                start = time.perf_counter()
                for _ in range(args.steps):
                    out = step(real, labels)
                out["d_loss"].numpy()
                best[name] = max(best[name], args.steps * args.batch_size / (time.perf_counter() - start))
        for name, rate in best.items():
            print(f"{model:8s} {name:9s} {rate:9.1f} {rate / best['eager']:8.2f}x")


if __name__ == "__main__":
    main()
