"""Training images for the GANs: a 28x28 digit set in [0, 1] -> 32x32 in [-1, 1], batched by tf.data.

The generator ends in tanh, so images are scaled to [-1, 1] as DCGAN does. The DCGAN layout
works on 32x32 (4 -> 8 -> 16 -> 32): DCGAN-on-MNIST code usually resizes MNIST to 32; here the 28x28 digits are
padded by 2 background pixels on each side instead, which keeps every pixel as it was (MNIST's
digits already sit in a 20x20 box with an empty border).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from models.gan import IMAGE_SIZE
from utilities.digits import ImageSet, load_image_set


@dataclass(frozen=True)
class GanImages:
    """Images (N, 32, 32, 1) float32 in [-1, 1] with integer labels, train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def to_gan_range(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """(N, 28, 28, 1) in [0, 1] -> (N, size, size, 1) in [-1, 1], padded with background (-1)."""
    images = np.asarray(images, np.float32)
    pad_total = size - images.shape[1]
    if pad_total < 0:
        raise ValueError(f"images of {images.shape[1]} pixels do not fit in {size}")
    before, after = pad_total // 2, pad_total - pad_total // 2
    padded = np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)), constant_values=0.0)
    return padded * 2.0 - 1.0


def to_unit_range(images) -> np.ndarray:
    """Generator output in [-1, 1] -> [0, 1] for display."""
    return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def from_image_set(data: ImageSet) -> GanImages:
    return GanImages(data.name, to_gan_range(data.x_train), data.y_train.astype(np.int32),
                     to_gan_range(data.x_test), data.y_test.astype(np.int32), data.num_classes)


def load_gan_images(dataset: str, **kwargs) -> GanImages:
    """`utilities.digits.load_image_set(dataset)` scaled for the GAN (DatasetUnavailable passes through)."""
    return from_image_set(load_image_set(dataset, **kwargs))


def epoch_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, epoch: int) -> tf.data.Dataset:
    """The batches of one epoch: shuffled by (seed, epoch), so a resumed run sees the same order.

    The last incomplete batch is dropped: every step has the same shape (one trace) and batch
    norm never sees a batch of one.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(images))
    return (tf.data.Dataset.from_tensor_slices((images[order], labels[order]))
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(count: int, batch_size: int) -> int:
    return count // batch_size
