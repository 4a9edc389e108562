"""What every 28x28 image set is, whatever its source."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DATASETS = ("mnist", "fashion_mnist", "digits", "mnist5k")


class DatasetUnavailable(RuntimeError):
    """An image set cannot be read or downloaded; the message says where to put the files."""


@dataclass(frozen=True)
class ImageSet:
    """Train/test images (float32 in [0, 1], N x 28 x 28 x 1), integer labels, class names, where they came from."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: Sequence[str]
    source: str = ""  # e.g. "/usr/share/datasets/fashion-mnist (Debian package ...): 60,000 training / ..."

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def as_unit_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], the handouts' `/ 255`."""
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """`labels` as int64 if each is in 0..num_classes-1, else DatasetUnavailable naming `where` and the first bad."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetUnavailable(f"{where}: labels of shape {labels.shape} and type {labels.dtype}, expected (N,) "
                                 "integers")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise DatasetUnavailable(f"{where}: label {labels[bad[0]]} at index {bad[0]}, expected 0..{num_classes - 1}")
    return labels.astype(np.int64)
