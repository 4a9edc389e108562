"""Which images: 15 Scene, assignment 3a's WikiArt lists, or any pair of "path label" lists.

Every source ends as two `ImageList`s (utilities.wikiart.dataset: paths relative to the list
file, checked to exist) and the class names their labels index. Problems a user must fix
(missing list, labels out of range, a class without training images) raise FeaturesSvmError
naming the flag or file.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.features_svm import scene15
from utilities.features_svm.errors import FeaturesSvmError
from utilities.finetune.training_data import read_labelled_list
from utilities.wikiart import styles
from utilities.wikiart.dataset import ImageList, ListFileError, MissingListError, read_image_list
from utilities.wikiart.download import DEFAULT_OUT_DIR as WIKIART_DIR

DATASETS = ("15scene", "wikiart")
SHOWN = 5   # empty classes named in an error (a label 999999 leaves 999,990 of them)
WIKIART_TRAIN = WIKIART_DIR / "train.txt"
WIKIART_TEST = WIKIART_DIR / "test.txt"


@dataclass(frozen=True)
class LabelledLists:
    """Training and test images with integer labels 0..len(class_names)-1."""

    name: str
    train: ImageList
    test: ImageList
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _read(path: Path, flag: str, num_classes: int | None) -> ImageList:
    try:
        return read_labelled_list(path, num_classes) if num_classes else read_image_list(path)
    except (ListFileError, MissingListError) as exc:
        raise FeaturesSvmError(f"{flag}: {exc}") from None


def check_classes(train: ImageList, test: ImageList, class_names: Sequence[str]) -> None:
    """Every class needs training images, and test labels must be classes the training list has."""
    counts = np.bincount(train.labels, minlength=len(class_names))
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        shown = ", ".join(f"{i} ({class_names[i]})" if class_names[i] != f"class {i}" else str(i)
                          for i in empty[:SHOWN])
        what = f"class(es) {shown}"
        if len(empty) > SHOWN:
            what = (f"{len(empty):,} classes, e.g. {shown} (the largest label is {int(train.labels.max()):,}, "
                    f"{len(train.labels):,} images)")
        raise FeaturesSvmError(f"{train.list_file}: no training image for {what}; "
                               "every label 0..max needs at least one training image")
    if len(test.labels) and int(test.labels.max()) >= len(class_names):
        raise FeaturesSvmError(f"{test.list_file}: label {int(test.labels.max())} has no training images "
                               f"(the training list has labels 0..{len(class_names) - 1})")


def load_lists(dataset: str | None = "15scene", *, train_list: str | os.PathLike | None = None,
               test_list: str | os.PathLike | None = None, data_dir: str | os.PathLike = scene15.DEFAULT_DATA_DIR,
               url: str = scene15.URL, train_per_class: int = scene15.TRAIN_PER_CLASS, seed: int = 0,
               progress: bool = True) -> LabelledLists:
    """The lists of `dataset`, or `train_list`/`test_list` when given (they take precedence)."""
    if (train_list is None) != (test_list is None):
        raise FeaturesSvmError("--train-list and --test-list go together: pass both")
    if train_list is not None:
        train = _read(Path(train_list), "--train-list", None)
        test = _read(Path(test_list), "--test-list", None)
        names = tuple(f"class {i}" for i in range(int(train.labels.max()) + 1))
        check_classes(train, test, names)
        return LabelledLists("lists", train, test, names)
    if dataset == "wikiart":
        names = tuple(styles.STYLE_NAMES)
        train = _read(WIKIART_TRAIN, "--dataset wikiart", len(names))
        test = _read(WIKIART_TEST, "--dataset wikiart", len(names))
        check_classes(train, test, names)
        return LabelledLists("wikiart", train, test, names)
    if dataset == "15scene":
        lists = scene15.write_lists(data_dir, train_per_class=train_per_class, seed=seed, url=url, progress=progress)
        names = lists.class_names
        train = _read(lists.train, "--dataset 15scene", len(names))
        test = _read(lists.test, "--dataset 15scene", len(names))
        check_classes(train, test, names)
        return LabelledLists("15scene", train, test, names)
    raise FeaturesSvmError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
