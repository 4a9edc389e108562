"""A reference for the tf.data pipeline: every readable image of a list decoded once, in list order.

Only the tests use it: they replay `epoch_plan` over these arrays and compare with what
`make_dataset` yields.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from utilities.wikiart.dataset import ImageList, _as_image_list, _decoded_images, epoch_plan, file_problem
from utilities.wikiart.decode import size_pair


@dataclass(frozen=True, eq=False)
class Examples:
    """Every readable image of a list, decoded and resized once, in list order."""

    images: np.ndarray   # uint8 (N, H, W, 3), RGB, not flipped, not preprocessed
    labels: np.ndarray   # int32 (N,)
    indices: np.ndarray  # int64 (N,): row of each image in the list
    skipped: tuple[tuple[str, str], ...]  # (path, reason) of each unreadable image

    @property
    def skipped_indices(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.indices) + len(self.skipped)), self.indices)


def load_examples(source: str | os.PathLike | ImageList, *, image_size: int | Sequence[int],
                  batch_size: int = 64) -> Examples:
    """Decode and resize every readable image once (no flip, no preprocessing).

    Epoch k of `make_dataset(..., training=True, seed=s, epoch=k)` must equal replaying
    `epoch_plan(len(list), seed=s, epoch=k).without(skipped_indices)` over these arrays.
    """
    image_list = _as_image_list(source)
    height, width = size_pair(image_size)
    plan = epoch_plan(len(image_list), shuffle=False, flip=False)
    ds = _decoded_images(image_list, plan, image_size, None, tf.data.AUTOTUNE)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    images, labels, indices = [], [], []
    for batch_images, batch_labels, batch_indices in ds.as_numpy_iterator():
        images.append(batch_images)
        labels.append(batch_labels)
        indices.append(batch_indices)
    indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    bad = np.setdiff1d(np.arange(len(image_list)), indices)
    return Examples(
        images=np.concatenate(images) if images else np.zeros((0, height, width, 3), np.uint8),
        labels=np.concatenate(labels) if labels else np.zeros(0, np.int32),
        indices=indices,
        skipped=tuple((image_list.paths[i], file_problem(image_list.paths[i])) for i in bad),
    )
