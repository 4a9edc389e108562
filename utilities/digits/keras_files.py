"""MNIST from the file `keras.datasets.mnist` uses, fetched safely (Fashion-MNIST: `fashion_mnist.py`).

Same URL and cache path as `keras.datasets.mnist` (so a copy Keras already downloaded is
reused), but through `utilities.common.downloads`: atomic, sha256-checked, and an offline error
that names the URL and the exact path to put the file by hand.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from utilities.common.downloads import DownloadError, download_file
from utilities.digits.fashion_mnist import (  # noqa: F401  (re-exported: where callers found them before)
    BASE_URL,
    FASHION_DIR,
    FASHION_FILES,
    FASHION_NAMES,
    datasets_dir,
    load_fashion_mnist,
)
from utilities.digits.image_set import DatasetUnavailable, ImageSet, as_unit_images

MNIST_FILE = "mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_mnist(*, base_url: str = BASE_URL, file_hash: str | None = MNIST_SHA256,
               cache: Path | None = None, progress: bool = True) -> ImageSet:
    """MNIST (60,000 / 10,000 digits) from Keras' `mnist.npz`."""
    dest = Path(cache or datasets_dir()) / MNIST_FILE
    try:
        path = download_file(base_url + MNIST_FILE, dest, file_hash=file_hash, progress=progress)
    except DownloadError as exc:
        raise DatasetUnavailable(str(exc)) from None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetUnavailable(f"{path} is not a readable mnist.npz ({exc}); delete it and run again") from None
    x_train, y_train, x_test, y_test = arrays
    return ImageSet("mnist", as_unit_images(x_train), y_train.astype(np.int64),
                    as_unit_images(x_test), y_test.astype(np.int64), tuple(str(d) for d in range(10)),
                    f"{path}: {len(x_train):,} training / {len(x_test):,} test images")


def load_keras_set(name: str, **kwargs) -> ImageSet:
    """`mnist` or `fashion_mnist`."""
    return load_mnist(**kwargs) if name == "mnist" else load_fashion_mnist(**kwargs)
