"""Speed of assignment 3b on SqueezeNet 1.1 (227x227) against SqueezeNet's own forward+backward.

    .venv/bin/python bench/explain_squeezenet_bench.py [FOLDER] [--copies 4] [--repeats 3] [--batch-size 8]
                                                      [--weights imagenet|random] [--all-methods]

The same rows as bench/explain_bench.py (VGG16), on SqueezeNet: what one "image" costs is what
`assignment_3b.py --model squeezenet` does per picture (rank the classes, Grad-CAM of
fire9_concat for the top-3, saliency for the top-1). Ratios, all measured in this process:

- x fwd+bwd (input): images/s over SqueezeNet's forward + one backward pass to the input for the
  top-1 logit, batched and traced (the least any saliency map can cost: the ceiling);
- x training step: over SqueezeNet's forward + backward to the weights (cross-entropy), the
  yardstick of bench/squeezenet_bench.py.

Rows: the ceiling, the training step, the keras-io recipe (one traced tape per image and class),
separate explainers (`GradCAM.explain(top_k=3)` then `VanillaGradient.explain`), the shared pass
(utilities/explain/engine.py) and `explain_folder` end to end with figures. `--all-methods` adds
one row per registered method (top-1 class, the CLI's default settings; class-map methods top-3).

Weights: the real ImageNet h5 when it is cached or can be fetched (the maps then rank real
classes), else `--weights random`. Best of --repeats after a warm-up, round-robin so that load
from other processes hits every row alike. Read the ratios, not the absolute numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from utilities.explain._graph import tap_model  # noqa: E402
from utilities.explain.engine import SharedPass  # noqa: E402
from utilities.explain.folder import explain_folder  # noqa: E402
from utilities.explain.gradcam import GradCAM  # noqa: E402
from utilities.explain.images import list_images, load_image, unit_rgb_preprocess  # noqa: E402
from utilities.explain.registry import METHODS, build_explainers, is_class_map  # noqa: E402
from utilities.explain.saliency import VanillaGradient  # noqa: E402

TOP_K = 3
SPEC = models.get_spec("squeezenet")
LAYER = SPEC.gradcam_layer
# the CLI's defaults for the methods with settings (assignment_3b.py)
CLI_OPTIONS = {"smoothgrad": {"samples": 25}, "smoothgrad_sq": {"samples": 25}, "vargrad": {"samples": 25},
               "integrated_gradients": {"steps": 32}, "scorecam": {"max_channels": 64}}


class InputGradient:
    """The ceiling: forward + one backward pass to the input (top-1 logit), batched and traced."""

    def __init__(self, model, preprocess, batch_size):
        self.batch_size = batch_size

        @tf.function(reduce_retracing=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = tf.cast(model(preprocess(x), training=False), tf.float32)
                top1 = tf.reduce_sum(tf.reduce_max(logits, axis=1))
            return tape.gradient(top1, x)
        self.step = step

    def __call__(self, images):
        for i in range(0, len(images), self.batch_size):
            self.step(tf.constant(images[i:i + self.batch_size])).numpy()


class TrainingStep:
    """Forward + backward to the weights (cross-entropy on the top-1 labels), no update."""

    def __init__(self, model, preprocess, batch_size):
        self.batch_size = batch_size

        @tf.function(reduce_retracing=True)
        def step(x):
            with tf.GradientTape() as tape:
                logits = tf.cast(model(preprocess(x), training=True), tf.float32)
                labels = tf.stop_gradient(tf.argmax(logits, axis=1))
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            grads = tape.gradient(loss, model.trainable_variables)
            return tf.add_n([tf.reduce_sum(g) for g in grads])
        self.step = step

    def __call__(self, images):
        for i in range(0, len(images), self.batch_size):
            self.step(tf.constant(images[i:i + self.batch_size])).numpy()


class Loop:
    """The keras-io recipe: predict, then one traced tape per (image, class)."""

    def __init__(self, model, preprocess):
        self.model, self.preprocess, self.tapped = model, preprocess, tap_model(model, LAYER)
        self.predict = tf.function(lambda x: model(preprocess(x), training=False))
        self.cam_one = tf.function(self._cam_one)
        self.saliency_one = tf.function(self._saliency_one)

    def _cam_one(self, x, c):
        with tf.GradientTape() as tape:
            activations, logits = self.tapped(self.preprocess(x), training=False)
            score = tf.cast(logits[0, c], tf.float32)
        grads = tf.cast(tape.gradient(score, activations), tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", tf.cast(activations, tf.float32), weights))[0]

    def _saliency_one(self, x, c):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.cast(self.model(self.preprocess(x), training=False)[0, c], tf.float32)
        return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1)[0]

    def __call__(self, images):
        for image in images:
            x = tf.constant(image[None])
            ranked = np.argsort(-self.predict(x).numpy()[0].astype(np.float32), kind="stable")[:TOP_K]
            [self.cam_one(x, tf.constant(int(c))).numpy() for c in ranked]
            self.saliency_one(x, tf.constant(int(ranked[0]))).numpy()


class Separate:
    def __init__(self, model, preprocess, batch_size):
        self.cam = GradCAM(model, LAYER, preprocess=preprocess, batch_size=batch_size)
        self.saliency = VanillaGradient(model, preprocess=preprocess, batch_size=batch_size)

    def __call__(self, images):
        cam = self.cam.explain(images, top_k=TOP_K)
        self.saliency.explain(images, cam.classes[:, :1])


class Shared:
    def __init__(self, model, preprocess, batch_size):
        self.engine = SharedPass({"gradcam": GradCAM(model, LAYER, preprocess=preprocess),
                                  "saliency": VanillaGradient(model, preprocess=preprocess)},
                                 top_k=TOP_K, batch_size=batch_size)

    def __call__(self, images):
        self.engine.explain(images)


class Folder:
    """`explain_folder` as `assignment_3b.py --model squeezenet` runs it (figures, CSV, index.html)."""

    def __init__(self, model, folder, batch_size):
        self.model, self.folder, self.batch_size = model, folder, batch_size
        self.out = tempfile.mkdtemp(prefix="explain_squeezenet_bench_")

    def __call__(self, images):
        explain_folder(self.folder, self.model, preprocess=SPEC.preprocess, input_size=SPEC.input_size,
                       layer=LAYER, top_k=TOP_K, output_dir=self.out, batch_size=self.batch_size,
                       progress=False, echo=lambda line: None)


class Method:
    """One registered method as 3b shows it: class maps for the top-3, the others for the top-1."""

    def __init__(self, model, preprocess, batch_size, method):
        self.explainer = build_explainers(model, [method], preprocess, LAYER, batch_size, CLI_OPTIONS)[method]
        self.top_k = TOP_K if is_class_map(method) else 1

    def __call__(self, images):
        self.explainer.explain(images, top_k=self.top_k)


def bench_folder(paths: list[Path], copies: int) -> Path:
    """A folder holding each photo `copies` times (odd copies mirrored), as the arrays are built."""
    import cv2

    folder = Path(tempfile.mkdtemp(prefix="explain_squeezenet_bench_photos_"))
    for copy in range(copies):
        for path in paths:
            picture = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(folder / f"{copy}_{path.stem}.png"), picture if copy % 2 == 0 else picture[:, ::-1])
    return folder


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[1] / "my_images"))
    parser.add_argument("--copies", type=int, default=4, help="each image repeated (flipped) this often")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="images per traced call")
    parser.add_argument("--weights", default="imagenet", help="imagenet (the real h5) or random")
    parser.add_argument("--all-methods", action="store_true", help="also one row per registered method")
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
        "keras-io recipe": Loop(model, preprocess),
        "separate explainers": Separate(model, preprocess, args.batch_size),
        "shared pass": Shared(model, preprocess, args.batch_size),
        "assignment_3b (figures on)": Folder(model, bench_folder(paths, args.copies), args.batch_size),
    }
    if args.all_methods:
        runs.update({f"method {m}": Method(model, preprocess, args.batch_size, m) for m in METHODS})
    for run in runs.values():  # warm-up: tracing
        run(images)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeats):  # round-robin
        for key, run in runs.items():
            start = time.perf_counter()
            run(images)
            best[key] = min(best[key], time.perf_counter() - start)
    ceiling = best["forward+backward to the input (ceiling)"]
    training = best["training step (forward+backward to the weights)"]
    print("\n| what | seconds | images/s | x fwd+bwd (input) | x training step |")
    print("|---|---|---|---|---|")
    for key, seconds in best.items():
        print(f"| {key} | {seconds:.2f} | {n / seconds:.1f} | {ceiling / seconds:.2f} | {training / seconds:.2f} |")


if __name__ == "__main__":
    main()
