"""Fashion-MNIST (Xiao et al. 2017; 60,000 / 10,000 clothes, 28x28 grey) from the first place that has it.

Where the four files (`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`) are looked for:

1. `data_dir` (the CLIs' `--data-dir`): any other copy, gzipped or unpacked; only there.
2. Keras' cache `~/.keras/datasets/fashion-mnist/` (`$KERAS_HOME/datasets/...`), where
   `keras.datasets.fashion_mnist.load_data()` saves them: a copy Keras already fetched is reused.
3. `/usr/share/datasets/fashion-mnist/`, the Debian / Ubuntu package `dataset-fashion-mnist`
   (`apt-get install dataset-fashion-mnist`): the same four files, offline.
4. A download from Keras' URLs into Keras' cache (atomic, `utilities.common.downloads`).

One line on stderr says which was used. Every file is checked (`utilities.digits.idx`: magic
numbers, dimensions, 28x28 images, as many labels as images, labels 0..9); a bad file stops the
run with one line naming it.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from utilities.common.downloads import DownloadError, download_file
from utilities.digits.idx import read_idx_pair
from utilities.digits.image_set import DatasetUnavailable, ImageSet, as_unit_images

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_DIR = "fashion-mnist"
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
FASHION_FILES = (TRAIN_LABELS, TRAIN_IMAGES, TEST_LABELS, TEST_IMAGES)  # keras.datasets.fashion_mnist's order
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"


def datasets_dir() -> Path:
    """Keras' dataset cache (`~/.keras/datasets`, or `$KERAS_HOME/datasets`)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def find_files(folder: str | os.PathLike) -> dict[str, Path] | None:
    """The four files in `folder` by their published names (gzipped, or unpacked); None if one is missing."""
    folder = Path(folder)
    found = {}
    for name in FASHION_FILES:
        path = next((p for p in (folder / name, folder / name[:-3]) if p.is_file()), None)
        if path is None:
            return None
        found[name] = path
    return found


def _missing(folder: Path) -> str:
    return ", ".join(n for n in FASHION_FILES if not (folder / n).is_file() and not (folder / n[:-3]).is_file())


def _download(base_url: str, folder: Path, progress: bool, searched: str) -> dict[str, Path]:
    try:
        return {name: download_file(base_url + name, folder / name, progress=progress) for name in FASHION_FILES}
    except DownloadError as exc:
        reason = str(exc).split("; ")[0]
        raise DatasetUnavailable(
            f"Fashion-MNIST: not in {searched}, and {reason}; `apt-get install {DEBIAN_PACKAGE}` puts it in "
            f"{SYSTEM_DIR}, or put {', '.join(FASHION_FILES)} in {folder.resolve()}, or pass --data-dir DIR"
        ) from None


def locate_fashion_mnist(*, data_dir: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                         system_dir: str | os.PathLike | None = None, base_url: str = BASE_URL,
                         progress: bool = True) -> tuple[dict[str, Path], str]:
    """The four files by name and a phrase saying where they came from (see the module docstring)."""
    if data_dir is not None:
        folder = Path(data_dir)
        files = find_files(folder)
        if files is None:
            raise DatasetUnavailable(f"--data-dir {folder}: no {_missing(folder)} there (the four Fashion-MNIST "
                                     "files, gzipped or unpacked)")
        return files, f"{folder} (--data-dir)"
    cache_folder = Path(cache or datasets_dir()) / FASHION_DIR
    system = Path(system_dir) if system_dir is not None else SYSTEM_DIR
    if (files := find_files(cache_folder)) is not None:
        return files, f"Keras' cache {cache_folder}"
    if (files := find_files(system)) is not None:
        return files, f"{system} (Debian package {DEBIAN_PACKAGE})"
    files = _download(base_url, cache_folder, progress, f"Keras' cache {cache_folder} nor {system}")
    return files, f"downloaded from {base_url} into Keras' cache {cache_folder}"


def load_fashion_mnist(*, data_dir: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                       system_dir: str | os.PathLike | None = None, base_url: str = BASE_URL, progress: bool = True,
                       log: Callable[[str], None] | None = stderr_line) -> ImageSet:
    """Fashion-MNIST as float32 images in [0, 1] (N, 28, 28, 1); `log` gets the line saying where it came from."""
    files, where = locate_fashion_mnist(data_dir=data_dir, cache=cache, system_dir=system_dir, base_url=base_url,
                                        progress=progress)
    x_train, y_train = read_idx_pair(files[TRAIN_IMAGES], files[TRAIN_LABELS])
    x_test, y_test = read_idx_pair(files[TEST_IMAGES], files[TEST_LABELS])
    source = f"{where}: {len(x_train):,} training / {len(x_test):,} test images"
    if log:
        log(f"Fashion-MNIST: {source}")
    return ImageSet("fashion_mnist", as_unit_images(x_train), y_train, as_unit_images(x_test), y_test,
                    FASHION_NAMES, source)
