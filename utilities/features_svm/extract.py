"""Batched feature extraction: listed images -> tap output -> (pooled) vector -> L2-normalised.

The images come through assignment 3a's tf.data pipeline (`utilities.wikiart.dataset.make_dataset`:
parallel decode, grayscale to three equal channels, bilinear resize to the network's input
without cropping, the model's caffe preprocessing), prefetched while the network runs one
traced call per batch. Rows keep the list order; an unreadable image leaves a zero row that
`valid` marks False (the pipeline skips it and says which).

Convolutional outputs are flattened (the handout's choice), or averaged / max-pooled over
space with `pooling` (Chatfield et al.'s spatial pooling: a 512-d pool5 descriptor).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from utilities.wikiart.dataset import ImageList, make_dataset

POOLINGS = ("flatten", "avg", "max")


def pixel_preprocess(images: tf.Tensor) -> tf.Tensor:
    """RGB 0..255 -> 0..1: `--model pixels`' only preprocessing."""
    return images / 255.0


def pixel_model(image_size: int) -> keras.Model:
    """The identity on (S, S, 3) images: `--model pixels` reads the image itself as its descriptor."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    return keras.Model(inputs, keras.layers.Identity(name="pixels")(inputs), name="pixels")


@dataclass(frozen=True)
class Features:
    """One L2-normalised float32 row per listed image (zeros where `valid` is False)."""

    features: np.ndarray
    labels: np.ndarray
    valid: np.ndarray

    @property
    def x(self) -> np.ndarray:
        return self.features[self.valid]

    @property
    def y(self) -> np.ndarray:
        return self.labels[self.valid]


def pool_and_normalise(outputs: tf.Tensor, pooling: str = "flatten") -> tf.Tensor:
    """(B, ...) layer output -> (B, D) float32 rows of unit L2 norm (a zero row stays zero)."""
    outputs = tf.cast(outputs, tf.float32)
    if outputs.shape.rank == 4 and pooling != "flatten":
        outputs = tf.reduce_mean(outputs, axis=(1, 2)) if pooling == "avg" else tf.reduce_max(outputs, axis=(1, 2))
    flat = tf.reshape(outputs, (tf.shape(outputs)[0], -1))
    # Scaled by the row's largest magnitude first: l2_normalize clamps the squared norm at 1e-12, so a
    # row of tiny values (an untrained MobileNetV2's out_relu: norms near 1e-10) would stay tiny.
    flat = tf.math.divide_no_nan(flat, tf.reduce_max(tf.abs(flat), axis=1, keepdims=True))
    return tf.math.l2_normalize(flat, axis=1)


class FeatureExtractor:
    """Images (already preprocessed, B x S x S x 3) -> descriptors, one traced call per batch shape."""

    def __init__(self, tap_model: keras.Model, preprocess: Callable, image_size: int, *,
                 pooling: str = "flatten", batch_size: int = 32):
        if pooling not in POOLINGS:
            raise ValueError(f"--pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
        self.model = tap_model
        self.preprocess = preprocess
        self.image_size = image_size
        self.pooling = pooling
        self.batch_size = batch_size
        self.batches = 0  # network calls so far (tests count them: a cache hit makes none)
        signature = [tf.TensorSpec((None, image_size, image_size, 3), tf.float32)]
        self._step = tf.function(self._features, input_signature=signature)

    def _features(self, images):
        return pool_and_normalise(self.model(images, training=False), self.pooling)

    def __call__(self, images) -> tf.Tensor:
        """Descriptors of a batch of preprocessed images."""
        self.batches += 1
        return self._step(tf.convert_to_tensor(images, tf.float32))

    @property
    def dim(self) -> int:
        shape = self.model.output.shape[1:]
        return int(shape[-1]) if len(shape) == 3 and self.pooling != "flatten" else int(np.prod(shape))

    def dataset(self, image_list: ImageList) -> tf.data.Dataset:
        """(images, labels, list indices) batches in list order: what `extract` iterates."""
        return make_dataset(image_list, image_size=self.image_size, batch_size=self.batch_size,
                            preprocess=self.preprocess, with_index=True)

    def extract(self, image_list: ImageList, *, progress: bool = True, description: str = "features") -> Features:
        """Descriptors of every listed image, rows in list order."""
        n = len(image_list)
        features = np.zeros((n, self.dim), np.float32)
        valid = np.zeros(n, bool)
        total = math.ceil(n / self.batch_size)
        with tqdm(total=total, desc=description, unit="batch", disable=not progress, leave=False) as bar:
            for images, _, index in self.dataset(image_list):
                rows = index.numpy()
                features[rows] = self(images).numpy()
                valid[rows] = True
                bar.update(1)
        return Features(features, np.asarray(image_list.labels, np.int32), valid)
