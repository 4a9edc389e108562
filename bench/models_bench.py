"""Images/s of AlexNet and VGG16, forward and forward+backward, float32 vs mixed bfloat16,
and AlexNet's grouped-convolution variants. Prints ratios to a baseline run in this process.

    python bench/models_bench.py [--batch 16] [--repeats 3] [--models alexnet,vgg16]

Baseline per model: float32 forward with the default (split) grouped convolution. Machines
are noisy; read the ratios, not the absolute numbers.
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


def bench(name: str, batch: int, repeats: int) -> list[tuple[str, float]]:
    spec = models.get_spec(name)
    x = tf.constant(np.random.default_rng(0).normal(0, 60, (batch, spec.input_size, spec.input_size, 3)),
                    tf.float32)
    y = tf.constant(np.arange(batch) % 1000, tf.int32)
    variants = [("float32", {})]
    if name == "alexnet":
        variants.append(("float32 native groups", {"grouped_conv": "native"}))
    variants.append(("mixed_bfloat16", {}))
    rows = []
    for label, options in variants:
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if "bfloat16" in label else "float32")
        model = models.build_model(name, weights="random", **options)
        steps = runners(model)
        forward, backward = steps["forward"], steps["forward+backward"]
        rows.append((f"{name} {label} forward", measure(forward, x, y, repeats)))
        rows.append((f"{name} {label} forward+backward", measure(backward, x, y, repeats)))
        del model
        keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="alexnet,vgg16")
    args = parser.parse_args(argv)
    print(f"batch {args.batch}, best of {args.repeats}; ratio = images/s / the model's float32 forward")
    print(f"{'variant':48s} {'images/s':>9s} {'ratio':>6s}")
    for name in args.models.split(","):
        rows = bench(name, args.batch, args.repeats)
        base = rows[0][1]
        for label, rate in rows:
            print(f"{label:48s} {rate:9.1f} {rate / base:6.2f}")


if __name__ == "__main__":
    main()
