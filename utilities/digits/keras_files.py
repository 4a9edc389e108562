"""MNIST and Fashion-MNIST from the files `keras.datasets` uses, fetched safely.

Same URLs and cache paths as `keras.datasets.mnist` / `fashion_mnist` (so a copy Keras already
downloaded is reused), but through `utilities.common.downloads`: atomic, hash-checked where
Keras publishes a hash, and an offline error that names each URL and the exact path to put
the file by hand. The parsers read the real formats: `mnist.npz` and gzipped IDX files.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from utilities.common.downloads import DownloadError, download_file
from utilities.digits.image_set import DatasetUnavailable, ImageSet, as_unit_images

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_FILE = "mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
FASHION_DIR = "fashion-mnist"
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def datasets_dir() -> Path:
    """Keras' dataset cache (`~/.keras/datasets`, or `$KERAS_HOME/datasets`)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def read_idx(path: Path, offset: int) -> np.ndarray:
    """The uint8 payload of a gzipped IDX file (8-byte header for labels, 16 for images)."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _fetch(url: str, dest: Path, file_hash: str | None, progress: bool) -> Path:
    try:
        return download_file(url, dest, file_hash=file_hash, progress=progress)
    except DownloadError as exc:
        raise DatasetUnavailable(str(exc)) from None


def load_mnist(*, base_url: str = BASE_URL, file_hash: str | None = MNIST_SHA256,
               cache: Path | None = None, progress: bool = True) -> ImageSet:
    """MNIST (60,000 / 10,000 digits) from Keras' `mnist.npz`."""
    path = _fetch(base_url + MNIST_FILE, Path(cache or datasets_dir()) / MNIST_FILE, file_hash, progress)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetUnavailable(f"{path} is not a readable mnist.npz ({exc}); delete it and run again") from None
    x_train, y_train, x_test, y_test = arrays
    return ImageSet("mnist", as_unit_images(x_train), y_train.astype(np.int64),
                    as_unit_images(x_test), y_test.astype(np.int64), tuple(str(d) for d in range(10)))


def load_fashion_mnist(*, base_url: str = BASE_URL, cache: Path | None = None,
                       progress: bool = True) -> ImageSet:
    """Fashion-MNIST (60,000 / 10,000 clothes) from its four gzipped IDX files."""
    folder = Path(cache or datasets_dir()) / FASHION_DIR
    paths = [_fetch(base_url + name, folder / name, None, progress) for name in FASHION_FILES]
    try:
        y_train, y_test = read_idx(paths[0], 8), read_idx(paths[2], 8)
        x_train = read_idx(paths[1], 16).reshape(len(y_train), 28, 28)
        x_test = read_idx(paths[3], 16).reshape(len(y_test), 28, 28)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetUnavailable(f"Fashion-MNIST files in {folder} are unreadable ({exc}); "
                                 "delete them and run again") from None
    return ImageSet("fashion_mnist", as_unit_images(x_train), y_train.astype(np.int64),
                    as_unit_images(x_test), y_test.astype(np.int64), FASHION_NAMES)


def load_keras_set(name: str, **kwargs) -> ImageSet:
    """`mnist` or `fashion_mnist`."""
    return load_mnist(**kwargs) if name == "mnist" else load_fashion_mnist(**kwargs)
