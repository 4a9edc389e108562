"""Baseline maps every evaluation table includes: a method must beat these to mean anything.

- `RandomMap`: uniform noise, the floor (ignores model and image).
- `EdgeMap`: Sobel gradient magnitude of the grey image, ignores the model. Adebayo et al.
  (2018) showed that several attribution methods look like edge detectors and survive
  model randomisation the way an edge detector does, so it is the bar for "depends on the
  model" (its randomisation correlation is 1 by construction).
Both are `Explainer`s (one forward pass for the logits and the ranked classes) so they fit
everywhere a method does.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from utilities.explain.base import Explainer, Preprocess, resolve_classes


class RandomMap(Explainer):
    """Uniform random map per (image, class), seeded: the chance level of every metric."""

    name = "random"
    title = "Random map"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, seed: int = 0):
        self.seed = seed
        self._calls = tf.Variable(0, dtype=tf.int32, trainable=False)
        super().__init__(model, preprocess, batch_size)

    def _explain_batch(self, x, classes):
        logits = self.logits(x)
        classes = resolve_classes(tf.cast(logits, tf.float32), classes)
        self._calls.assign_add(1)  # new noise per batch, same sequence on every run
        shape = tf.concat([tf.shape(classes), tf.shape(x)[1:3]], axis=0)
        maps = tf.random.stateless_uniform(shape, seed=tf.stack([self.seed, self._calls]))
        return logits, classes, maps


class EdgeMap(Explainer):
    """Sobel gradient magnitude of the channel-mean image, the same for every class."""

    name = "edges"
    title = "Edge detector (Sobel)"

    def _explain_batch(self, x, classes):
        logits = self.logits(x)
        classes = resolve_classes(tf.cast(logits, tf.float32), classes)
        grey = tf.reduce_mean(x, axis=-1, keepdims=True)
        sobel = tf.image.sobel_edges(grey)[..., 0, :]            # (N, H, W, 2): dy, dx
        magnitude = tf.norm(sobel, axis=-1)
        maps = tf.tile(magnitude[:, None], [1, tf.shape(classes)[1], 1, 1])
        return logits, classes, maps
