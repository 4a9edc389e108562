"""Integrated Gradients (Sundararajan et al. 2017): attributions that add up to the logit change.

IG_i(x) = (x_i - b_i) * integral_0^1 d f(b + a (x - b)) / d x_i da, for a baseline b. By the
fundamental theorem of calculus (completeness) sum_i IG_i = f(x) - f(b): the attributions
account exactly for how the class logit differs from the baseline's, which makes the
quadrature error measurable (`IntegratedGradients.attributions(...).delta`, as Captum's
convergence delta). The integral is a weighted sum over `steps` points of the straight path
(trapezoid, midpoint or Gauss-Legendre rule); path points of a chunk of images go through the
model together, at most `pass_batch` model inputs per pass, in a traced `tf.while_loop`.

Baselines live in the space of the images you pass (after `preprocess` if one is given):
"zeros" (black for RGB input; the mean colour for mean-subtracted model input), "blur" (a
Gaussian-blurred copy: removes detail, keeps colour), a number, or an array (H,W,C) / (N,H,W,C).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from utilities.explain._blur import gaussian_blur
from utilities.explain._passes import passes_for
from utilities.explain.base import Preprocess, Saliency, resolve_classes, selected_logits

RULES = ("trapezoid", "midpoint", "gauss_legendre")


def quadrature(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points a in [0, 1] and weights summing to 1 for integrating over the path."""
    if rule == "trapezoid":
        points = np.linspace(0.0, 1.0, steps + 1)
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
    elif rule == "midpoint":
        points = (np.arange(steps) + 0.5) / steps
        weights = np.full(steps, 1.0 / steps)
    elif rule == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        points, weights = (nodes + 1) / 2, weights / 2
    else:
        raise ValueError(f"rule must be one of {RULES}, got '{rule}'")
    return points.astype(np.float32), weights.astype(np.float32)


@dataclass
class Attributions:
    """Signed per-channel attributions and the completeness check, all numpy."""

    logits: np.ndarray            # (N, num_classes)
    classes: np.ndarray           # (N, K)
    attributions: np.ndarray      # (N, K, H, W, C), signed
    baseline_scores: np.ndarray   # (N, K) f_c(baseline)
    delta: np.ndarray             # (N, K) sum(attributions) - (f_c(x) - f_c(baseline))


class IntegratedGradients(Saliency):
    """Path-integrated gradients from a baseline; the map is |IG| reduced over channels.

    Args:
        steps: quadrature intervals (trapezoid: steps + 1 gradient evaluations).
        baseline: "zeros", "blur", a number, or an array broadcastable to the images.
        rule: "trapezoid" (default), "midpoint" or "gauss_legendre".
        blur_sigma: sigma in pixels of the "blur" baseline.
        pass_batch: most model inputs (images x path points) per forward/backward pass.
    """

    name = "integrated_gradients"
    title = "Integrated Gradients"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, reduction: str = "max", steps: int = 32,
                 baseline="zeros", rule: str = "trapezoid", blur_sigma: float = 5.0,
                 pass_batch: int = 32):
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if pass_batch < 1:
            raise ValueError(f"pass_batch must be >= 1, got {pass_batch}")
        if isinstance(baseline, str) and baseline not in ("zeros", "blur"):
            raise ValueError(f"baseline must be 'zeros', 'blur', a number or an array, got '{baseline}'")
        self.points, self.weights = quadrature(rule, steps)
        self.steps, self.rule, self.blur_sigma, self.pass_batch = steps, rule, blur_sigma, pass_batch
        self.baseline = baseline if isinstance(baseline, str) else np.asarray(baseline, np.float32)
        super().__init__(model, preprocess, batch_size, reduction)
        self._traced_attributions = tf.function(self._attributions_batch, reduce_retracing=True)

    def baseline_for(self, x: tf.Tensor) -> tf.Tensor:
        if isinstance(self.baseline, str):
            return tf.zeros_like(x) if self.baseline == "zeros" else gaussian_blur(x, self.blur_sigma)
        return tf.broadcast_to(tf.constant(self.baseline), tf.shape(x))

    def attribute(self, x, classes):
        logits, classes, attributions, _ = self._integrate(x, classes)
        return logits, classes, attributions

    def _integrate(self, x, classes):
        logits = self.logits(x)
        classes = resolve_classes(tf.cast(logits, tf.float32), classes)
        baseline = self.baseline_for(x)
        n, k = tf.shape(x)[0], tf.shape(classes)[1]
        per_pass, count = passes_for(len(self.points), self.pass_batch, self.batch_size)
        padding = per_pass * count - len(self.points)  # zero-weight points fill the last pass
        points = tf.constant(np.pad(self.points, (0, padding)))
        weights = tf.constant(np.pad(self.weights, (0, padding)))
        shape = tf.concat([[n, k], tf.shape(x)[1:]], axis=0)
        total = tf.zeros(shape, tf.float32)
        for i in tf.range(count):
            alphas = points[i * per_pass:(i + 1) * per_pass]
            path = baseline[None] + tf.reshape(alphas, [-1, 1, 1, 1, 1]) * (x - baseline)[None]
            _, _, grads = self.input_gradients(
                tf.reshape(path, tf.concat([[-1], tf.shape(x)[1:]], 0)), tf.tile(classes, [per_pass, 1]))
            grads = tf.reshape(grads, tf.concat([[per_pass], shape], axis=0))
            step = tf.tensordot(weights[i * per_pass:(i + 1) * per_pass], grads, axes=1)
            total += tf.reshape(step, tf.shape(total))  # keeps the loop variable's static shape
        return logits, classes, (x - baseline)[:, None] * total, baseline

    def _attributions_batch(self, x, classes):
        logits, classes, attributions, baseline = self._integrate(x, classes)
        baseline_scores = selected_logits(self.logits(baseline), classes)  # one more forward pass
        change = selected_logits(logits, classes) - baseline_scores
        delta = tf.reduce_sum(attributions, axis=[2, 3, 4]) - change
        return logits, classes, attributions, baseline_scores, delta

    def attributions(self, images, classes=None, top_k: int = 1) -> Attributions:
        """Signed (N,K,H,W,C) attributions with the completeness gap `delta` per (image, class)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"images must be a batch (N, H, W, C), got shape {images.shape}")
        classes = self._class_matrix(classes, len(images), top_k)
        parts = [self._traced_attributions(tf.constant(images[i:i + self.batch_size]),
                                           tf.constant(classes[i:i + self.batch_size]))
                 for i in range(0, len(images), self.batch_size)]
        arrays = [np.concatenate([p[j].numpy() for p in parts]) for j in range(5)]
        return Attributions(arrays[0].astype(np.float32), arrays[1].astype(np.int32), *arrays[2:])
