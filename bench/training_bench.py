"""Training throughput of the fine-tuning loop against a plain eager GradientTape loop.

    .venv/bin/python bench/training_bench.py [--batch-size 16] [--steps 4] [--model alexnet]

For each set of trained layers (remove-fc 1: classifier+fc7, remove-fc 2: classifier+fc6,
all layers) it times, on one in-memory batch repeated (no input pipeline in the way):
  eager   the baseline: an uncompiled loop, `with tf.GradientTape(): model(x)` + SGD step
  eager, watch  the same with a tape that watches only the trainable variables. Keras leaves
          the tf.Variables of frozen layers `trainable=True`, so the plain tape records the
          frozen convolutions and eager backprop goes through them: with only FC layers
          trained it costs about as much as training everything. (Compiled steps prune that
          work; ours also watches only the trainable variables.)
  fp32    our compiled step (utilities.finetune.training.StepRunner) on the full network
  bf16    the same with --precision mixed_bfloat16
  cached  our step on the head only, fed cached frozen-part features (--cache-features);
          the one-time cost of building the cache (2 forward passes per image) is printed apart
Images/s are the best of --repeats timed runs of --steps steps after 2 warm-up steps, the
variants taking turns so that load from other processes hits them alike; the ratio column is
against the eager loop of the same layers, measured in the same process.
Random weights (no download); numbers depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from utilities.common.quiet_tf import use_pooled_cpu_allocator  # noqa: E402

use_pooled_cpu_allocator()   # as the CLIs run (both sides of every ratio share it)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from utilities.finetune.feature_cache import compute_features, split_for_cache  # noqa: E402
from utilities.finetune.training import StepRunner  # noqa: E402

NUM_CLASSES = 10


def build(name: str, remove_fc: int, layers: list[str] | None, precision: str) -> keras.Model:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model = models.build_model(name, "random", remove_fc=remove_fc, num_classes=NUM_CLASSES)
    finally:
        keras.config.set_dtype_policy(previous)
    models.set_trainable(model, layers or [layer.name for layer in model.layers if layer.weights])
    return model


def best_rates(steps: dict, batch: int, count: int, repeats: int) -> dict[str, float]:
    """Best images/s of each step function; runs alternate so load changes hit all alike."""
    for step in steps.values():
        for _ in range(2):  # warm-up: tracing, kernel selection
            step()
    best = dict.fromkeys(steps, 0.0)
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(count):
                step()
            best[name] = max(best[name], batch * count / (time.perf_counter() - start))
    return best


def eager_step(model, optimizer, images, labels):
    def step():
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return float(loss)
    return step


def eager_watching_step(model, optimizer, images, labels):
    """The eager loop again, but its tape watches only the trainable variables (see module doc)."""
    def step():
        variables = model.trainable_variables
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([v.value for v in variables])
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return float(loss)
    return step


def compiled_step(network, variables, images, labels):
    runner = StepRunner(network, variables, keras.optimizers.SGD(0.001), num_classes=NUM_CLASSES)
    data = tf.data.Dataset.from_tensors((images, labels))
    batch, spec = next(iter(data)), data.element_spec
    return lambda: float(runner.train_step(batch, spec).loss)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=models.MODEL_NAMES, default="alexnet")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    size = models.get_spec(args.model).input_size
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 255, (args.batch_size, size, size, 3)).astype(np.float32)
    images = tf.constant(models.get_spec(args.model).preprocess(raw))
    labels = tf.constant(rng.integers(0, NUM_CLASSES, args.batch_size).astype(np.int32))
    b, n, r = args.batch_size, args.steps, args.repeats

    configs = [("remove-fc 1", 1, models.default_train_layers(args.model, 1)),
               ("remove-fc 2", 2, models.default_train_layers(args.model, 2)),
               ("all layers", 1, None)]
    rows = []
    for title, remove_fc, layers in configs:
        model = build(args.model, remove_fc, layers, "float32")
        mixed = build(args.model, remove_fc, layers, "mixed_bfloat16")
        steps = {"eager": eager_step(model, keras.optimizers.SGD(0.001), images, labels),
                 "eager_watch": eager_watching_step(model, keras.optimizers.SGD(0.001), images, labels),
                 "fp32": compiled_step(model, model.trainable_variables, images, labels),
                 "bf16": compiled_step(mixed, mixed.trainable_variables, images, labels)}
        row = {"layers": title}
        split = split_for_cache(model)
        if split is not None and split.after_flatten:
            batches = tf.data.Dataset.from_tensors((images, tf.range(b, dtype=tf.int64)))
            compute_features(split.trunk, batches, b)  # warm-up: tracing
            start = time.perf_counter()
            features, _ = compute_features(split.trunk, batches, b)
            row["cache_build"] = b / (time.perf_counter() - start)
            picked = tf.constant(features[:, 0])
            steps["cached"] = compiled_step(split.head, model.trainable_variables, picked, labels)
        row.update(best_rates(steps, b, n, r))
        del model, mixed, split, steps
        keras.backend.clear_session()
        gc.collect()
        rows.append(row)
        print(f"done: {title}", file=sys.stderr, flush=True)

    print(f"{args.model}, batch {b}, {n} steps x {r} repeats, {os.cpu_count()} CPU(s); "
          "images/s (ratio to the eager GradientTape loop of the same layers)")
    print(f"{'trained layers':<13} {'eager':>8} {'eager, watch':>15} {'fp32':>15} {'bf16':>15} {'cached':>16}")
    def cell(row, key):
        return f"{row[key]:7.1f} ({row[key] / row['eager']:4.1f}x)" if key in row else f"{'-':>15}"

    for row in rows:
        print(f"{row['layers']:<13} {row['eager']:8.1f} {cell(row, 'eager_watch')} {cell(row, 'fp32')} "
              f"{cell(row, 'bf16')} {cell(row, 'cached'):>16}")
    for row in rows:
        if "cache_build" in row:
            print(f"{row['layers']}: building the cache runs at {row['cache_build']:.1f} images/s "
                  "(once; both flip states)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
