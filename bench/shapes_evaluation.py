"""The evaluation table of the README: every method on the shipped shapes CNN.

    .venv/bin/python bench/shapes_evaluation.py [--images 48] [--steps 40]

The shapes CNN is the tests' (tests/fixtures/shapes_cnn.weights.h5: a target square / disk /
cross at a random place on noise next to a distractor ring that is never a class); its first
--images held-out images, deletion/insertion with --steps points and a blurred fill, the full
randomisation cascade, the pointing game on the target's box grown by 2 px. SmoothGrad
family with 10 samples, Integrated Gradients with 16 steps. Not a timing: a quality table.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.shapes_task import TOLERANCE, shapes_task  # noqa: E402
from utilities.explain.metrics import evaluate_methods  # noqa: E402
from utilities.explain.registry import METHODS, build_explainers  # noqa: E402

OPTIONS = {"smoothgrad": {"samples": 10}, "smoothgrad_sq": {"samples": 10}, "vargrad": {"samples": 10},
           "integrated_gradients": {"steps": 16}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    task = shapes_task()
    images, boxes = task.images[:args.images], task.boxes[:args.images]
    methods = [m for m in METHODS if m not in ("random", "edges")]   # the baselines are always added
    report = evaluate_methods(task.model, images,
                              lambda model: build_explainers(model, methods, None, "last_conv", 16, OPTIONS),
                              boxes=boxes, steps=args.steps, deletion_fill="blur", randomisation_stages=None,
                              pointing_tolerance=TOLERANCE)
    print(report.format_table())


if __name__ == "__main__":
    main()
