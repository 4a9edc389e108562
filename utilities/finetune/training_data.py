"""Batches for the training loop: from images, or from cached features in exactly the same order.

Order and flips come from `utilities.wikiart.dataset.epoch_plan(seed, epoch)`, a pure function, not
from a shuffle buffer. The image path (`ImageData`) lets `make_dataset` follow the plan; the
cached path (`CachedData`) replays the same plan over features computed once for the image
and its mirror image, selecting one by the plan's flip decision. Both skip the same
unreadable images, so they yield the same batches and give the same updates, and a resumed
run sees the batches the interrupted epoch would have seen.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from utilities.wikiart import dataset
from utilities.wikiart.dataset import DecodeStats, ImageList, without_autotune

AUTOTUNE = tf.data.AUTOTUNE


def read_labelled_list(path: str | Path, num_classes: int) -> ImageList:
    """Parse a "path label" list and check its labels fit `num_classes` (ValueError otherwise)."""
    image_list = dataset.read_image_list(path)
    low, high = int(image_list.labels.min()), int(image_list.labels.max())
    if low < 0 or high >= num_classes:
        raise dataset.ListFileError(f"{path}: labels must be 0..{num_classes - 1} for --num-classes "
                                    f"{num_classes}, found {low}..{high}")
    return image_list


@dataclass
class ImageData:
    """Preprocessed images (the model's input) for training and validation."""

    train: ImageList
    validation: ImageList
    input_size: int
    preprocess: Callable
    batch_size: int
    seed: int = 0
    flip: bool = True
    train_stats: DecodeStats = field(default_factory=lambda: DecodeStats("train"))
    validation_stats: DecodeStats = field(default_factory=lambda: DecodeStats("validation"))

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch (fewer if files turn out unreadable): the progress bar's total."""
        return math.ceil(len(self.train) / self.batch_size)

    def train_batches(self, epoch: int) -> tf.data.Dataset:
        self.train_stats.reset()
        return dataset.make_dataset(self.train, image_size=self.input_size, batch_size=self.batch_size,
                                    training=True, flip=self.flip, preprocess=self.preprocess,
                                    seed=self.seed, epoch=epoch, stats=self.train_stats)

    def validation_batches(self) -> tf.data.Dataset:
        self.validation_stats.reset()
        return dataset.make_dataset(self.validation, image_size=self.input_size, batch_size=self.batch_size,
                                    training=False, preprocess=self.preprocess, stats=self.validation_stats)

    def indexed_batches(self, which: str) -> tf.data.Dataset:
        """(images, list index) in list order, unflipped: what the feature cache is computed from."""
        items = self.train if which == "train" else self.validation
        data = dataset.make_dataset(items, image_size=self.input_size, batch_size=self.batch_size,
                                    training=False, preprocess=self.preprocess, with_index=True)
        return data.map(lambda images, labels, index: (images, index))

    @property
    def skipped(self) -> tuple[int, int]:
        """Unreadable (training, validation) images of the last pass over each."""
        return self.train_stats.skipped, self.validation_stats.skipped


@dataclass
class CachedData:
    """Cached frozen-part features (rows = list index) replayed along the same epoch plans."""

    train_features: np.ndarray      # (N, 2, ...): unflipped, flipped (a CPU tensor after init)
    train_valid: np.ndarray         # (N,) bool: the image was readable
    train_labels: np.ndarray
    val_features: np.ndarray        # (M, 1, ...) (a CPU tensor after init)
    val_valid: np.ndarray
    val_labels: np.ndarray
    batch_size: int
    seed: int = 0
    flip: bool = True

    def __post_init__(self):
        # Keep one copy: the numpy arrays become CPU tensors the input pipeline gathers from.
        with tf.device("/CPU:0"):
            self.train_features = tf.convert_to_tensor(self.train_features)
            self.val_features = tf.convert_to_tensor(self.val_features)
            self._train_labels = tf.constant(self.train_labels)
            self._val_labels = tf.constant(self.val_labels)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(int(self.train_valid.sum()) / self.batch_size)

    def train_batches(self, epoch: int) -> tf.data.Dataset:
        plan = dataset.epoch_plan(len(self.train_labels), seed=self.seed, epoch=epoch, flip=self.flip)
        plan = plan.without(np.flatnonzero(~self.train_valid))
        index = plan.order
        flips = plan.flipped[index].astype(np.int64)
        features, labels = self.train_features, self._train_labels

        def gather(i, f):
            return tf.gather_nd(features, tf.stack([i, f], axis=1)), tf.gather(labels, i)

        data = tf.data.Dataset.from_tensor_slices((index, flips)).batch(self.batch_size)
        return without_autotune(data.map(gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE))

    def validation_batches(self) -> tf.data.Dataset:
        index = np.flatnonzero(self.val_valid).astype(np.int64)
        features, labels = self.val_features, self._val_labels
        data = tf.data.Dataset.from_tensor_slices(index).batch(self.batch_size)
        return without_autotune(data.map(lambda i: (tf.gather(features, i)[:, 0], tf.gather(labels, i)),
                                          num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE))

    @property
    def skipped(self) -> tuple[int, int]:
        """Unreadable (training, validation) images."""
        return int((~self.train_valid).sum()), int((~self.val_valid).sum())
