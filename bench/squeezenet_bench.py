"""Images/s of SqueezeNet 1.1: forward, forward+backward (weights, the training step) and the
input gradient (d top logit / d image, one saliency pass), float32 and mixed bfloat16.

    python bench/squeezenet_bench.py [--batch 16] [--repeats 3] [--size 227]

Ratios are to SqueezeNet's own float32 forward+backward in this process: the yardstick
against which 3b's explanation throughput on SqueezeNet is reported. Machines are noisy;
read the ratios, not the absolute numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from bench._throughput import measure, runners  # noqa: E402


def bench(batch: int, repeats: int, size: int) -> list[tuple[str, float]]:
    x = tf.constant(np.random.default_rng(0).normal(0, 60, (batch, size, size, 3)), tf.float32)
    y = tf.constant(np.arange(batch) % 1000, tf.int32)
    rows = []
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        model = models.build_model("squeezenet", weights="random", input_size=size)
        for label, fn in runners(model).items():
            rows.append((f"squeezenet {policy} {label}", measure(fn, x, y, repeats)))
        del model
        keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=models.get_spec("squeezenet").input_size)
    args = parser.parse_args(argv)
    rows = bench(args.batch, args.repeats, args.size)
    base = dict(rows)["squeezenet float32 forward+backward"]
    print(f"batch {args.batch}, {args.size}x{args.size}, best of {args.repeats}; "
          f"ratio = images/s / SqueezeNet's float32 forward+backward")
    print(f"{'variant':48s} {'images/s':>9s} {'ratio':>6s}")
    for label, rate in rows:
        print(f"{label:48s} {rate:9.1f} {rate / base:6.2f}")


if __name__ == "__main__":
    main()
