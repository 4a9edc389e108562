"""The rows the 3b speed benches share (bench/explain_bench.py, bench/explain_squeezenet_bench.py).

Each row is a callable taking a batch of RGB 0..255 images (N, H, W, 3) and doing what one way of
explaining them costs; the benches time them round-robin (`best_of`) and print ratios.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from utilities.explain._graph import tap_model
from utilities.explain.engine import SharedPass
from utilities.explain.folder import explain_folder
from utilities.explain.gradcam import GradCAM
from utilities.explain.saliency import VanillaGradient

TOP_K = 3


def _batched(step: Callable, images: np.ndarray, batch_size: int) -> None:
    for i in range(0, len(images), batch_size):
        step(tf.constant(images[i:i + batch_size])).numpy()


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
        _batched(self.step, images, self.batch_size)


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
        _batched(self.step, images, self.batch_size)


class KerasIoRecipe:
    """The usual per-image code: predict, then one traced tape per (image, class) on a [conv, logits] model.

    Returns (classes (N,K), saliency (N,1,H,W), gradcam (N,K,h,w)).
    """

    def __init__(self, model, preprocess, layer):
        self.model, self.preprocess, self.tapped = model, preprocess, tap_model(model, layer)
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
        classes, sal, cams = [], [], []
        for image in images:
            x = tf.constant(image[None])
            ranked = np.argsort(-self.predict(x).numpy()[0].astype(np.float32), kind="stable")[:TOP_K]
            classes.append(ranked)
            cams.append([self.cam_one(x, tf.constant(int(c))).numpy() for c in ranked])
            sal.append([self.saliency_one(x, tf.constant(int(ranked[0]))).numpy()])
        return np.array(classes), np.array(sal), np.array(cams)


class Separate:
    """`GradCAM.explain(top_k=3)`, then `VanillaGradient.explain` on the top-1: each its own forward pass."""

    def __init__(self, model, preprocess, layer, batch_size):
        self.cam = GradCAM(model, layer, preprocess=preprocess, batch_size=batch_size)
        self.saliency = VanillaGradient(model, preprocess=preprocess, batch_size=batch_size)

    def __call__(self, images):
        cam = self.cam.explain(images, top_k=TOP_K)
        sal = self.saliency.explain(images, cam.classes[:, :1])
        return cam.classes, sal.maps, cam.maps


class Shared:
    """The same maps from one shared pass (utilities/explain/engine.py)."""

    def __init__(self, model, preprocess, layer, batch_size):
        self.engine = SharedPass({"gradcam": GradCAM(model, layer, preprocess=preprocess),
                                  "saliency": VanillaGradient(model, preprocess=preprocess)},
                                 top_k=TOP_K, batch_size=batch_size)

    def __call__(self, images):
        result = self.engine.explain(images)
        return result.classes, result.maps["saliency"], result.maps["gradcam"]


class Folder:
    """`explain_folder` as assignment_3b.py runs it: read, explain, draw and write everything."""

    def __init__(self, model, spec, layer, folder, batch_size):
        self.model, self.spec, self.layer, self.folder, self.batch_size = model, spec, layer, folder, batch_size
        self.out = tempfile.mkdtemp(prefix="explain_bench_")

    def __call__(self, images):
        explain_folder(self.folder, self.model, preprocess=self.spec.preprocess, input_size=self.spec.input_size,
                       layer=self.layer, top_k=TOP_K, output_dir=self.out, batch_size=self.batch_size,
                       progress=False, echo=lambda line: None)


def bench_folder(paths: list[Path], copies: int) -> Path:
    """A folder holding each photo `copies` times (odd copies mirrored), as the arrays are built."""
    import cv2

    folder = Path(tempfile.mkdtemp(prefix="explain_bench_photos_"))
    for copy in range(copies):
        for path in paths:
            picture = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(str(folder / f"{copy}_{path.stem}.png"), picture if copy % 2 == 0 else picture[:, ::-1])
    return folder


def best_of(runs: dict, images: np.ndarray, repeats: int) -> tuple[dict, dict]:
    """(outputs of the warm-up call, best seconds) per row; rows timed round-robin so load hits all alike."""
    outputs = {key: run(images) for key, run in runs.items()}  # warm-up: tracing
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for key, run in runs.items():
            start = time.perf_counter()
            run(images)
            best[key] = min(best[key], time.perf_counter() - start)
    return outputs, best
