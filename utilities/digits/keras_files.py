"""MNIST from the file `keras.datasets.mnist` uses, fetched safely (Fashion-MNIST: `fashion_mnist.py`).

Same URL and cache path as `keras.datasets.mnist` (so a copy Keras already downloaded is
reused), but through `utilities.common.downloads`: atomic, sha256-checked, and an offline error
that names the URL and the exact path to put the file by hand.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from utilities.common.downloads import DownloadError, download_file
from utilities.common.downloads import file_hash as _file_hash
from utilities.digits.fashion_mnist import (  # noqa: F401  (re-exported: where callers found them before)
    BASE_URL,
    FASHION_DIR,
    FASHION_FILES,
    FASHION_NAMES,
    datasets_dir,
    load_fashion_mnist,
)
from utilities.digits.image_set import DatasetUnavailable, ImageSet, as_unit_images, check_labels

MNIST_FILE = "mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_mnist(*, base_url: str = BASE_URL, file_hash: str | None = MNIST_SHA256,
               cache: Path | None = None, progress: bool = True) -> ImageSet:
    """MNIST (60,000 / 10,000 digits) from Keras' `mnist.npz`."""
    dest = Path(cache or datasets_dir()) / MNIST_FILE
    if file_hash and dest.is_file():
        got = _file_hash(dest, "sha256")
        if got != file_hash.lower():
            # A file someone put there (by hand, or a damaged copy): never replace it behind their back,
            # and never tell them to save it where it already is.
            raise DatasetUnavailable(
                f"the file at {dest.resolve()} does not match the published hash (got sha256 {got}, expected "
                f"{file_hash.lower()}); it is not the published {MNIST_FILE}: delete it and run again to "
                f"download it, or put the file from {base_url + MNIST_FILE} there")
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
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        if images.shape[1:] != (28, 28) or images.ndim != 3 or len(images) != len(labels) or not len(images):
            raise DatasetUnavailable(f"{path}: x_{split} of shape {images.shape} with {len(labels)} labels, expected "
                                     "(N, 28, 28) images and N labels; delete it and run again")
    y_train, y_test = (check_labels(y, 10, f"{path}: y_{split}") for y, split in ((y_train, "train"),
                                                                                    (y_test, "test")))
    return ImageSet("mnist", as_unit_images(x_train), y_train,
                    as_unit_images(x_test), y_test, tuple(str(d) for d in range(10)),
                    f"{path}: {len(x_train):,} training / {len(x_test):,} test images")


def load_keras_set(name: str, **kwargs) -> ImageSet:
    """`mnist` or `fashion_mnist`."""
    return load_mnist(**kwargs) if name == "mnist" else load_fashion_mnist(**kwargs)
