"""Throughput of the compiled DANN step against a plain eager GradientTape loop, in the same process.

    .venv/bin/python bench/domain_adaptation_bench.py [--batch-size 64] [--steps 10] [--repeats 3]

Both variants run the same DANN update (features of source + target, label loss on the source,
domain loss through the gradient reversal layer, SGD with momentum and the annealed learning
rate) on one in-memory batch repeated, so no input pipeline is in the way:
  eager     the baseline: `utilities.domain_adaptation.training.DannStep(..., compiled=False)`,
            i.e. the step's Python body run op by op under a GradientTape
  compiled  the step the program uses: the same body in one tf.function
Images/s count source + target images; best of --repeats timed runs of --steps steps after
warm-up (tracing excluded), the variants taking turns so that load from other processes hits
them alike. The ratio is against the eager loop. Random data and fresh weights (no download);
absolute numbers depend on the machine and its load, the ratio less so.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64, help="source and target images per step, each")
    p.add_argument("--filters", default="32,48", help="conv1,conv2 widths (default: the paper's 32,48)")
    p.add_argument("--steps", type=int, default=10, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant (best is kept)")
    args = p.parse_args()

    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import numpy as np

    from models.dann import build_dann
    from utilities.domain_adaptation.schedules import AnnealedLearningRate, parse_lambda
    from utilities.domain_adaptation.training import DannStep

    filters = tuple(int(v) for v in args.filters.split(","))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(args.batch_size, 28, 28, 3)).astype(np.float32)
    xt = rng.normal(size=(args.batch_size, 28, 28, 3)).astype(np.float32)
    ys = rng.integers(0, 10, args.batch_size)

    steps = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        keras.utils.set_random_seed(0)
        net = build_dann(filters=filters)
        optimizer = keras.optimizers.SGD(AnnealedLearningRate(0.01, 10_000), momentum=0.9)
        steps[name] = DannStep(net, optimizer, parse_lambda("schedule"), 10_000, compiled=compiled)
        for _ in range(2):  # warm-up: tracing, first allocations
            [float(v) for v in steps[name](xs, ys, xt)]

    best = {name: 0.0 for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                out = step(xs, ys, xt)
            [float(v) for v in out]  # wait for the last step
            seconds = time.perf_counter() - start
            best[name] = max(best[name], 2 * args.batch_size * args.steps / seconds)

    print(f"DANN step, conv widths {filters}, {args.batch_size}+{args.batch_size} images per step, "
          f"best of {args.repeats} x {args.steps} steps")
    print(f"{'variant':<10} {'images/s':>10} {'vs eager':>9}")
    for name, rate in best.items():
        print(f"{name:<10} {rate:>10.0f} {rate / best['eager']:>8.2f}x")


if __name__ == "__main__":
    main()
