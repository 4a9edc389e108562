"""Whole assignment-3a runs against the original's TF1 fine-tuning step, in one bench run.

    .venv/bin/python bench/finetune_run_bench.py [--train 512] [--val 128] [--epochs 3 30] [--batch-size 64]

Baseline (measured here, in this process): the TF1 skeleton's shape — a `tf.compat.v1` graph
of AlexNet fed one in-memory batch of --batch-size through `feed_dict`, the full forward pass
every step, plain gradient descent on fc7 + fc8 (Kratzert's remove-fc 1) — as steady images/s.
This process uses the pooled CPU allocator the CLIs use (utilities/common/quiet_tf.py), so the
ratios are not the allocator's; the baseline is also measured once under TensorFlow's default
allocator (a subprocess) and printed. Then, on generated 800x600 JPEGs (--train / --val
images, 10 classes, synthetic bvlc_alexnet.npy weights in the real format), with the CLI at
--batch-size (the issue's measurements used 64; the CLI's default is the skeleton's 32):
  cache     building the feature cache (decode + both flip states through the frozen trunk)
            as a ratio to the trunk's own forward throughput on an in-memory batch (same passes)
  run N     `python assignment_3a.py --remove-fc 1 --epochs N --explain-every 0` as a subprocess
            (training alone; bench/explain_logging_bench.py measures the explanations), start-up, cache,
            validation and checkpoints included: training images / wall second, ratio to the
            baseline's steady rate
  steady    the median images/s of epochs 2.. of the longest run, ratio to the baseline
  summaries the share of a steady epoch the display steps take: 1 - steady(display-step 3) /
            steady(display-step 1000), from a second run of the same length
Random weights; numbers depend on the machine and its load, ratios less so.

    .venv/bin/python bench/finetune_run_bench.py --fixed-costs [--train 512] [--val 128] [--epochs 8]

measures instead, in-process (same generated JPEGs and weights, CLI defaults otherwise: batch 32,
feature cache on, --explain-every 0), the per-epoch fixed costs of steady epochs 2..N, median
seconds and share of the epoch's wall time (issue 27's target: all of them <= 15 % at 512 images):
  training    the training loop (from the epoch's images/s)
  validation  the whole validation pass (StepRunner.evaluate)
  summaries   the epoch's speed + validation scalars and the writers' flush (RunLogger)
  confusion   drawing + writing the confusion image, on RunLogger's background thread (not on the
              epoch's critical path; its CPU time competes with training on a 2-core machine)
  checkpoint  the epoch checkpoint (TrainingCheckpoint.save) and run.json
and start-up in a fresh interpreter, by parts: importing the 3a modules (TensorFlow, Keras),
building AlexNet, loading the weight file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from utilities.common.quiet_tf import use_pooled_cpu_allocator  # noqa: E402

use_pooled_cpu_allocator()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench._images import write_jpegs  # noqa: E402

SIZE, CLASSES = 227, 10
BATCH = 64   # set from --batch-size in main()


def tf1_step_rate(weights: dict, steps: int, repeats: int) -> float:
    """Images/s of the TF1 skeleton's fine-tuning step (full forward, SGD on fc7 + fc8)."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, SIZE, SIZE, 3])
        y = v1.placeholder(tf.float32, [None, CLASSES])
        var = {k: [v1.Variable(a, trainable=k in ("fc7", "fc8")) for a in arrays] for k, arrays in weights.items()}
        rng = np.random.default_rng(0)
        var["fc8"] = [v1.Variable(rng.normal(0, 0.01, (4096, CLASSES)).astype(np.float32)),
                      v1.Variable(np.zeros(CLASSES, np.float32))]

        def conv(t, name, stride, padding, groups=1):
            w, b = var[name]
            parts = zip(tf.split(t, groups, 3), tf.split(w, groups, 3), strict=True) if groups > 1 else [(t, w)]
            out = tf.concat([tf.nn.conv2d(a, k, [1, stride, stride, 1], padding) for a, k in parts], 3)
            return tf.nn.relu(tf.nn.bias_add(out, b))

        def norm_pool(t):
            t = tf.nn.local_response_normalization(t, depth_radius=2, alpha=2e-5, beta=0.75, bias=1.0)
            return tf.nn.max_pool2d(t, 3, 2, "VALID")

        t = norm_pool(conv(x, "conv1", 4, "VALID"))
        t = norm_pool(conv(t, "conv2", 1, "SAME", 2))
        t = conv(conv(t, "conv3", 1, "SAME"), "conv4", 1, "SAME", 2)
        t = tf.reshape(tf.nn.max_pool2d(conv(t, "conv5", 1, "SAME", 2), 3, 2, "VALID"), [-1, 6 * 6 * 256])
        t = v1.nn.dropout(tf.nn.relu(v1.nn.xw_plus_b(t, *var["fc6"])), rate=0.5)
        t = v1.nn.dropout(tf.nn.relu(v1.nn.xw_plus_b(t, *var["fc7"])), rate=0.5)
        logits = v1.nn.xw_plus_b(t, *var["fc8"])
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train_op = v1.train.GradientDescentOptimizer(0.01).minimize(loss, var_list=var["fc7"] + var["fc8"])
        init = v1.global_variables_initializer()
    images = np.random.default_rng(1).uniform(-120, 120, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    labels = np.eye(CLASSES, dtype=np.float32)[np.arange(BATCH) % CLASSES]
    best = 0.0
    with v1.Session(graph=graph) as session:
        session.run(init)
        feed = {x: images, y: labels}
        for _ in range(2):
            session.run(train_op, feed_dict=feed)
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                session.run(train_op, feed_dict=feed)
            best = max(best, BATCH * steps / (time.perf_counter() - start))
    return best


def cache_ratio(weights_file: Path, train_list: Path) -> tuple[float, float]:
    """(cache build images/s, its ratio to the trunk's in-memory forward throughput, same passes)."""
    import models
    from utilities.finetune.feature_cache import compute_features, split_for_cache
    from utilities.finetune.training_data import ImageData, read_labelled_list

    model = models.build_model("alexnet", weights_file, remove_fc=1, num_classes=CLASSES)
    models.set_trainable(model, models.default_train_layers("alexnet", 1))
    split = split_for_cache(model)
    train = read_labelled_list(train_list, CLASSES)
    spec = models.get_spec("alexnet")
    images = ImageData(train, train, spec.input_size, spec.preprocess, BATCH, 0, True)
    batch = tf.constant(np.random.default_rng(2).uniform(-120, 120, (BATCH, SIZE, SIZE, 3)).astype(np.float32))
    forward = tf.function(lambda x: split.trunk(tf.concat([x, tf.reverse(x, [2])], 0), training=False))
    forward(batch)
    compute_features(split.trunk, images.indexed_batches("train"), len(train))  # warm-up: tracing, file cache
    start = time.perf_counter()
    for _ in range(3):
        forward(batch).numpy()
    forward_rate = 3 * BATCH / (time.perf_counter() - start)  # images/s, both flips each
    start = time.perf_counter()
    compute_features(split.trunk, images.indexed_batches("train"), len(train))
    build_rate = len(train) / (time.perf_counter() - start)
    return build_rate, build_rate / forward_rate


def run_cli(work: Path, weights_file: Path, train_list: Path, val_list: Path, epochs: int,
            display_step: int, batch_size: int) -> tuple[float, list[float]]:
    """Wall seconds of one `assignment_3a.py` process and its per-epoch images/s."""
    name = f"e{epochs}_d{display_step}"
    command = [sys.executable, str(ROOT / "assignment_3a.py"), "--remove-fc", "1", "--weights", str(weights_file),
               "--train-list", str(train_list), "--val-list", str(val_list), "--epochs", str(epochs),
               "--display-step", str(display_step), "--batch-size", str(batch_size), "--logdir", str(work / "logs"),
               "--checkpoint-dir", str(work / "checkpoints"), "--run-name", name, "--no-progress",
               "--explain-every", "0"]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    history = json.loads((work / "checkpoints" / name / "run.json").read_text())["history"]
    return seconds, [h["images_per_second"] for h in history]


def fixed_costs(work: Path, weights_file: Path, train_list: Path, val_list: Path, epochs: int,
                train_images: int) -> None:
    """Per-epoch fixed costs of an in-process run (module docstring), printed."""
    import keras

    from utilities.finetune import checkpointing, experiment, tb_logging, training

    spent: dict[str, list[tuple[float, float]]] = {}   # part -> (start, end) of each call

    def timed(owner, name: str, part: str):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent.setdefault(part, []).append((start, time.perf_counter()))
        setattr(owner, name, wrapper)
        return owner, name, original

    patches = [timed(training.StepRunner, "evaluate", "validation"),
               timed(tb_logging.RunLogger, "validation_epoch", "summaries"),
               timed(tb_logging.RunLogger, "speed", "summaries"),
               timed(tb_logging.RunLogger, "_confusion_image", "confusion"),
               timed(checkpointing.TrainingCheckpoint, "save", "checkpoint"),
               timed(experiment, "write_run_info", "checkpoint")]
    ends: list[float] = []

    def echo(line: str) -> None:
        if line.startswith("epoch "):
            ends.append(time.perf_counter())

    try:
        config = experiment.ExperimentConfig(weights=str(weights_file), train_list=train_list, val_list=val_list,
                                             epochs=epochs, logdir=work / "logs", checkpoint_dir=work / "ckpt",
                                             run_name="fixed", progress=False, explain_every=0)
        result = experiment.Experiment(config, echo=echo).run()
    finally:
        for owner, name, original in patches:
            setattr(owner, name, original)
        keras.backend.clear_session()
    # epoch e (from 2) spans ends[e-2] .. ends[e-1]; a call belongs to the epoch whose span holds its start
    rows = {"training": [], "validation": [], "summaries": [], "confusion": [], "checkpoint": []}
    walls = []
    for e in range(2, len(ends) + 1):
        start, end = ends[e - 2], ends[e - 1]
        walls.append(end - start)
        rows["training"].append(train_images / result.history[e - 1]["images_per_second"])
        for part in ("validation", "summaries", "confusion", "checkpoint"):
            rows[part].append(sum(b - a for a, b in spent.get(part, []) if start <= a < end))
    wall = statistics.median(walls)
    print(f"fixed costs ({train_images} training images, batch 32, cached; median of epochs 2..{len(ends)}): "
          f"steady epoch {wall:.3f} s wall (from one epoch's report to the next)")
    for part, values in rows.items():
        note = " (background thread)" if part == "confusion" else ""
        print(f"  {part:<11} {statistics.median(values):7.3f} s  {statistics.median(values) / wall:6.1%}{note}")
    fixed = sum(statistics.median(rows[p]) for p in ("validation", "summaries", "checkpoint"))
    print(f"  on the critical path besides training: {fixed:.3f} s = {fixed / wall:.1%} of the epoch "
          f"(target <= 15 %: {'met' if fixed / wall <= 0.15 else 'not met'})")


STARTUP = """
import time, sys
t0 = time.perf_counter()
from utilities.common.quiet_tf import import_tensorflow_quietly
import_tensorflow_quietly()
import models
from utilities.finetune.experiment import Experiment
t1 = time.perf_counter()
models.build_model("alexnet", "random", remove_fc=1, num_classes=10)
t2 = time.perf_counter()
models.build_model("alexnet", sys.argv[1], remove_fc=1, num_classes=10)
t3 = time.perf_counter()
print(f"{t1 - t0:.2f} {t2 - t1:.2f} {t3 - t2 - (t2 - t1):.2f}")
"""


def startup(weights_file: Path) -> None:
    """Start-up of the 3a program by parts, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", STARTUP, str(weights_file)], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    imports, build, load = (float(v) for v in done.stdout.split()[-3:])
    print(f"start-up  imports {imports:.2f} s (TensorFlow, Keras, the 3a modules), build AlexNet {build:.2f} s, "
          f"load the weight file {load:.2f} s (a second build with the file, minus the first build)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=512, help="training images (default %(default)s)")
    parser.add_argument("--val", type=int, default=128, help="validation images (default %(default)s)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 30], help="run lengths (default 3 30)")
    parser.add_argument("--steps", type=int, default=4, help="baseline steps per timing (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="baseline and CLI batch (default %(default)s)")
    parser.add_argument("--fixed-costs", action="store_true",
                        help="only the per-epoch fixed costs and the start-up (default epochs: 8)")
    parser.add_argument("--baseline-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global BATCH
    BATCH = args.batch_size

    from tests.synthetic_weights import alexnet_arrays, write_pickled_npy

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        arrays = alexnet_arrays()
        weights_file = write_pickled_npy(work / "bvlc_alexnet.npy", arrays)
        train_list = write_jpegs(work, args.train, name="train", seed=0, classes=CLASSES)
        val_list = write_jpegs(work, args.val, name="val", seed=1, classes=CLASSES)
        if args.fixed_costs:
            startup(weights_file)
            fixed_costs(work, weights_file, train_list, val_list, 8 if args.epochs == [3, 30] else max(args.epochs),
                        args.train)
            return 0
        baseline = tf1_step_rate({k: v for k, v in arrays.items() if k != "fc8"}, args.steps, 2)
        if args.baseline_only:
            print(json.dumps({"baseline": baseline}))
            return 0
        print(f"baseline: TF1 graph step (full forward, SGD on fc7+fc8), batch {BATCH}: {baseline:.1f} images/s",
              flush=True)
        default = subprocess.run([sys.executable, __file__, "--baseline-only", "--train", "1", "--val", "1",
                                  "--steps", str(args.steps), "--batch-size", str(BATCH)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "0"})
        print(f"          under TensorFlow's default CPU allocator: "
              f"{json.loads(default.stdout.splitlines()[-1])['baseline']:.1f} images/s", flush=True)
        build, ratio = cache_ratio(weights_file, train_list)
        print(f"cache     {build:7.1f} images/s (decode + 2 flips) = {ratio:.2f} of the trunk's forward "
              "throughput on an in-memory batch", flush=True)
        steady = {}
        for epochs in args.epochs:
            seconds, rates = run_cli(work, weights_file, train_list, val_list, epochs, 3, BATCH)
            print(f"run {epochs:<3}   {seconds:6.1f} s, {args.train * epochs / seconds:7.1f} training images/s "
                  f"= {args.train * epochs / seconds / baseline:.2f}x the baseline", flush=True)
            steady[3] = rates
        longest = max(args.epochs)
        _, steady[1000] = run_cli(work, weights_file, train_list, val_list, longest, 1000, BATCH)
        rate = {d: statistics.median(r[1:] or r) for d, r in steady.items()}
        print(f"steady    {rate[3]:7.1f} images/s (median of epochs 2..{longest}) = {rate[3] / baseline:.1f}x "
              "the baseline")
        print(f"summaries display steps take {1 - rate[3] / rate[1000]:.0%} of a steady epoch "
              f"({rate[1000]:.1f} images/s with --display-step 1000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
