"""Speed of assignment 3b on SqueezeNet 1.1 (227x227) against SqueezeNet's own forward+backward.

    .venv/bin/python bench/explain_squeezenet_bench.py [FOLDER] [--copies 4] [--repeats 3] [--batch-size 8]
                                                      [--weights imagenet|random] [--all-methods] [--parts]

The same rows as bench/explain_bench.py (VGG16), on SqueezeNet: what one "image" costs is what
`assignment_3b.py --model squeezenet` does per picture (rank the classes, Grad-CAM of
fire9_concat for the top-3, saliency for the top-1). Ratios, all measured in this process:

- x fwd+bwd (input): images/s over SqueezeNet's forward + one backward pass to the input for the
  top-1 logit, batched and traced (the least any saliency map can cost: the ceiling);
- x training step: over SqueezeNet's forward + backward to the weights (cross-entropy), the
  yardstick of bench/squeezenet_bench.py.

Rows: the ceiling, the training step, the keras-io recipe (one traced tape per image and class),
separate explainers (`GradCAM.explain(top_k=3)` then `VanillaGradient.explain`), the shared pass
(utilities/explain/engine.py) and `explain_folder` end to end with figures (its ratio the steady
one: the warm-up call traces the shared pass, kept for the same model; the one-time part is printed
apart). `--all-methods` adds one row per registered method (top-1 class, the CLI's default settings;
class-map methods top-3); `--parts` times the parts of one more `explain_folder` call (reading,
network, composing, PNGs, page maps, the wait at the end, summary, page), per image.

Weights: the real ImageNet h5 when it is cached or can be fetched (the maps then rank real
classes), else `--weights random`. A warm-up call each, then --repeats rounds, the order reversed
every other round, so that load from other processes hits every row alike: the best of each row,
and the median over the rounds of the ratio to the ceiling in the same round (wall clock, and the
process's CPU time on all threads). Read the ratios, not the absolute numbers.
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
from bench._explain_rows import (  # noqa: E402
    TOP_K,
    Folder,
    InputGradient,
    KerasIoRecipe,
    Separate,
    Shared,
    TrainingStep,
    bench_folder,
    best_of,
    print_folder_parts,
    print_one_time,
    ratio_cells,
)
from utilities.explain.images import list_images, load_image, unit_rgb_preprocess  # noqa: E402
from utilities.explain.registry import METHODS, build_explainers, is_class_map  # noqa: E402

SPEC = models.get_spec("squeezenet")
LAYER = SPEC.gradcam_layer
# the CLI's defaults for the methods with settings (assignment_3b.py)
CLI_OPTIONS = {"smoothgrad": {"samples": 25}, "smoothgrad_sq": {"samples": 25}, "vargrad": {"samples": 25},
               "integrated_gradients": {"steps": 32}, "scorecam": {"max_channels": 64}}


class Method:
    """One registered method as 3b shows it: class maps for the top-3, the others for the top-1."""

    def __init__(self, model, preprocess, batch_size, method):
        self.explainer = build_explainers(model, [method], preprocess, LAYER, batch_size, CLI_OPTIONS)[method]
        self.top_k = TOP_K if is_class_map(method) else 1

    def __call__(self, images):
        self.explainer.explain(images, top_k=self.top_k)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[1] / "my_images"))
    parser.add_argument("--copies", type=int, default=4, help="each image repeated (flipped) this often")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="images per traced call")
    parser.add_argument("--weights", default="imagenet", help="imagenet (the real h5) or random")
    parser.add_argument("--all-methods", action="store_true", help="also one row per registered method")
    parser.add_argument("--parts", action="store_true", help="time the parts of one more assignment_3b call")
    args = parser.parse_args(argv)

    paths, _ = list_images(args.folder)
    base = [load_image(p, SPEC.input_size).network_input for p in paths]
    images = np.stack([im if i % 2 == 0 else im[:, ::-1] for i in range(args.copies) for im in base])
    n = len(images)
    preprocess = unit_rgb_preprocess(SPEC.preprocess)
    keras.utils.set_random_seed(0)
    model = models.build_model("squeezenet", weights=args.weights)
    print(f"SqueezeNet 1.1 {SPEC.input_size}x{SPEC.input_size} ({args.weights} weights), {n} images "
          f"({len(base)} from {args.folder} x{args.copies}), top-{TOP_K} Grad-CAM ({LAYER}) + top-1 saliency, "
          f"batch {args.batch_size}; TF {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs, "
          f"best of {args.repeats}")

    runs = {
        "forward+backward to the input (ceiling)": InputGradient(model, preprocess, args.batch_size),
        "training step (forward+backward to the weights)": TrainingStep(model, preprocess, args.batch_size),
        "keras-io recipe": KerasIoRecipe(model, preprocess, LAYER),
        "separate explainers": Separate(model, preprocess, LAYER, args.batch_size),
        "shared pass": Shared(model, preprocess, LAYER, args.batch_size),
        "assignment_3b (figures on)": Folder(model, SPEC, LAYER, bench_folder(paths, args.copies), args.batch_size),
    }
    if args.all_methods:
        runs.update({f"method {m}": Method(model, preprocess, args.batch_size, m) for m in METHODS})
    timings = best_of(runs, images, args.repeats)
    best = timings.best
    ceiling_key = "forward+backward to the input (ceiling)"
    ceiling = best[ceiling_key]
    training = best["training step (forward+backward to the weights)"]
    print("\n| what | seconds | images/s | x fwd+bwd (input) | x training step "
          "| x fwd+bwd, median paired wall (range) | x fwd+bwd, median paired CPU time (range) |")
    print("|---|---|---|---|---|---|---|")
    for key, seconds in best.items():
        print(f"| {key} | {seconds:.2f} | {n / seconds:.1f} | {ceiling / seconds:.2f} | {training / seconds:.2f} "
              f"| {ratio_cells(timings, key, ceiling_key)} |")
    folder_key = "assignment_3b (figures on)"
    print_one_time(n, timings, folder_key, ceiling_key)
    if args.parts:
        print_folder_parts(runs[folder_key], n, ceiling)


if __name__ == "__main__":
    main()
