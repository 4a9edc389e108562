"""Deletion and insertion curves (Petsiuk et al. 2018, RISE): does the map rank pixels by importance?

Deletion: remove pixels from the image, most salient first (replaced by `fill`), and follow
the class probability; a good map makes it collapse fast (low area under the curve).
Insertion: start from a blurred copy and put the original pixels back, most salient first; a
good map makes the probability rise fast (high AUC). Maps at a lower resolution (CAMs) are
resized bilinearly to the image first; ties (flat regions of a map) are broken at random so
a constant map is scored like a random one rather than by raster order.

Every (image, step) variant is built inside a traced function and scored in passes of at
most `pass_batch` model inputs. Images are in the explainers' input space (`preprocess` is
applied inside, as for the explainers).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from utilities.explain._blur import gaussian_blur
from utilities.explain._passes import passes_for
from utilities.explain.base import Preprocess, resize_maps

FILLS = ("zeros", "blur", "mean")


@dataclass
class Curves:
    """Per image: the score after each step, and the area under the curve (numpy)."""

    fractions: np.ndarray      # (S+1,) fraction of pixels removed / inserted
    deletion: np.ndarray       # (N, S+1)
    insertion: np.ndarray      # (N, S+1)

    @property
    def deletion_auc(self) -> np.ndarray:
        return np.trapezoid(self.deletion, self.fractions, axis=1)

    @property
    def insertion_auc(self) -> np.ndarray:
        return np.trapezoid(self.insertion, self.fractions, axis=1)


def pixel_ranks(maps: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, H, W) maps -> (N, H, W) int32 rank of each pixel, 0 = most salient, ties at random."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    rng = np.random.default_rng(seed)
    ranks = np.empty((n, h * w), np.int32)
    for i, flat in enumerate(maps.reshape(n, -1)):
        order = np.lexsort((rng.random(h * w), -flat))
        ranks[i, order] = np.arange(h * w, dtype=np.int32)
    return ranks.reshape(n, h, w)


def fill_images(images: tf.Tensor, fill: str, blur_sigma: float) -> tf.Tensor:
    """What removed pixels become: zeros, a blurred copy, or each image's mean colour."""
    if fill == "zeros":
        return tf.zeros_like(images)
    if fill == "blur":
        return gaussian_blur(images, blur_sigma)
    if fill == "mean":
        return tf.broadcast_to(tf.reduce_mean(images, axis=[1, 2], keepdims=True), tf.shape(images))
    raise ValueError(f"fill must be one of {FILLS}, got '{fill}'")


class CurveScorer:
    """Scores images as pixels are swapped in rank order, for one model.

    Args:
        steps: points of the curve after the start (pixels per step = H*W / steps).
        score: "probability" (softmax of the class, as RISE) or "logit".
        deletion_fill / insertion_start: "zeros", "blur" or "mean".
        pass_batch: most model inputs per forward pass; batch_size: images per traced call.
    """

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None, *, steps: int = 32,
                 score: str = "probability", deletion_fill: str = "zeros",
                 insertion_start: str = "blur", blur_sigma: float = 5.0, batch_size: int = 4,
                 pass_batch: int = 32):
        if steps < 1 or batch_size < 1 or pass_batch < 1:
            raise ValueError("steps, batch_size and pass_batch must be >= 1")
        if score not in ("probability", "logit"):
            raise ValueError(f"score must be 'probability' or 'logit', got '{score}'")
        for fill in (deletion_fill, insertion_start):
            if fill not in FILLS:
                raise ValueError(f"fill must be one of {FILLS}, got '{fill}'")
        self.model, self.preprocess, self.steps, self.score = model, preprocess, steps, score
        self.deletion_fill, self.insertion_start, self.blur_sigma = deletion_fill, insertion_start, blur_sigma
        self.batch_size, self.pass_batch = batch_size, pass_batch
        self._traced = tf.function(self._curves_batch, reduce_retracing=True)

    def _scores(self, x, classes):
        model_input = x if self.preprocess is None else self.preprocess(x)
        logits = tf.cast(self.model(model_input, training=False), tf.float32)
        values = tf.nn.softmax(logits) if self.score == "probability" else logits
        return tf.gather(values, classes[:, None], batch_dims=1)[:, 0]

    def _curve(self, start, target, ranks, classes):
        """Scores of `start` with the `counts[s]` top-ranked pixels taken from `target` -> (B, S+1)."""
        hw = ranks.shape[1] * ranks.shape[2]
        points = self.steps + 1
        per_pass, count = passes_for(points, self.pass_batch, self.batch_size)
        counts = np.round(np.linspace(0, hw, points)).astype(np.int32)
        counts = tf.constant(np.pad(counts, (0, per_pass * count - points), constant_values=hw))
        b = tf.shape(start)[0]
        shape = tf.shape(start)[1:]
        found = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            swapped = ranks[:, None] < counts[i * per_pass:(i + 1) * per_pass][None, :, None, None]
            mixed = tf.where(swapped[..., None], target[:, None], start[:, None])   # (B, P, H, W, C)
            flat = tf.reshape(mixed, tf.concat([[-1], shape], 0))
            scores = self._scores(flat, tf.repeat(classes, per_pass))
            found = found.write(i, tf.reshape(scores, [b, per_pass]))
        return tf.reshape(tf.transpose(found.stack(), [1, 0, 2]), [b, -1])[:, :points]

    def _curves_batch(self, images, ranks, classes):
        removed = fill_images(images, self.deletion_fill, self.blur_sigma)
        start = fill_images(images, self.insertion_start, self.blur_sigma)
        return self._curve(images, removed, ranks, classes), self._curve(start, images, ranks, classes)

    def curves(self, images, maps, classes, seed: int = 0) -> Curves:
        """Deletion and insertion curves of `images` (N,H,W,C) for `maps` (N,h,w) and `classes` (N,)."""
        images = np.asarray(images, dtype=np.float32)
        maps = np.asarray(maps, dtype=np.float32)
        classes = np.asarray(classes, dtype=np.int32).reshape(-1)
        if images.ndim != 4 or maps.ndim != 3 or not len(images) == len(maps) == len(classes):
            raise ValueError(f"need images (N,H,W,C), maps (N,h,w), classes (N,); got "
                             f"{images.shape}, {maps.shape}, {classes.shape}")
        if maps.shape[1:] != images.shape[1:3]:
            maps = resize_maps(maps, images.shape[1:3])
        ranks = pixel_ranks(maps, seed)
        parts = [self._traced(tf.constant(images[i:i + self.batch_size]),
                              tf.constant(ranks[i:i + self.batch_size]),
                              tf.constant(classes[i:i + self.batch_size]))
                 for i in range(0, len(images), self.batch_size)]
        deletion = np.concatenate([p[0].numpy() for p in parts])
        insertion = np.concatenate([p[1].numpy() for p in parts])
        return Curves(np.linspace(0.0, 1.0, self.steps + 1), deletion, insertion)


def deletion_insertion(model: keras.Model, images, maps, classes, *, preprocess: Preprocess | None = None,
                       seed: int = 0, **options) -> Curves:
    """One-call form of `CurveScorer(model, preprocess, **options).curves(images, maps, classes)`."""
    return CurveScorer(model, preprocess, **options).curves(images, maps, classes, seed)
