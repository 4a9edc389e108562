"""Which images: 15 Scene, assignment 3a's WikiArt lists, the real 28x28 sets (Fashion-MNIST, mnist5k)
exported under the same protocol (`image_sets`), or any pair of "path label" lists.

Every source ends as two `ImageList`s (utilities.wikiart.dataset: paths relative to the list
file, checked to exist) and the class names their labels index. Problems a user must fix
(missing list, labels out of range, a class without training images) raise FeaturesSvmError
naming the flag or file.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.features_svm import image_sets, scene15
from utilities.features_svm.errors import FeaturesSvmError
from utilities.finetune.training_data import read_labelled_list
from utilities.wikiart import styles
from utilities.wikiart.dataset import ImageList, ListFileError, MissingListError, read_image_list
from utilities.wikiart.download import DEFAULT_OUT_DIR as WIKIART_DIR

DATASETS = ("15scene", "wikiart", *image_sets.IMAGE_SETS)
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
    source: str = ""   # where the images came from, when there is more to say than the list files

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


def cap_per_class(image_list: ImageList, per_class: int | None, seed: int) -> ImageList:
    """At most `per_class` images of each class (`image_sets.select_per_class`'s seeded draw), list order kept."""
    if per_class is None:
        return image_list
    keep = image_sets.select_per_class(image_list.labels, per_class, seed, "--test-per-class", at_most=True)
    if len(keep) == len(image_list):
        return image_list
    paths = tuple(image_list.paths[i] for i in keep)
    return dataclasses.replace(image_list, paths=paths, labels=np.asarray(image_list.labels)[keep],
                               missing=sum(not os.path.isfile(p) for p in paths))


def load_lists(dataset: str | None = "15scene", *, train_list: str | os.PathLike | None = None,
               test_list: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
               url: str = scene15.URL, train_per_class: int = scene15.TRAIN_PER_CLASS,
               test_per_class: int | None = None, seed: int = 0, progress: bool = True) -> LabelledLists:
    """The lists of `dataset`, or `train_list`/`test_list` when given (they take precedence).

    `test_per_class` caps every class of the test list (a seeded draw), whatever the source;
    `data_dir` is 15 Scene's folder or where a 28x28 set's PNG files go (None: utilities/data/<dataset>).
    """
    if test_per_class is not None and test_per_class < 1:
        raise FeaturesSvmError(f"--test-per-class must be at least 1, got {test_per_class}")
    lists = _load_lists(dataset, train_list=train_list, test_list=test_list, data_dir=data_dir, url=url,
                        train_per_class=train_per_class, test_per_class=test_per_class, seed=seed,
                        progress=progress)
    return dataclasses.replace(lists, test=cap_per_class(lists.test, test_per_class, seed))


def _load_lists(dataset, *, train_list, test_list, data_dir, url, train_per_class, test_per_class, seed,
                progress) -> LabelledLists:
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
    if dataset in image_sets.IMAGE_SETS:
        exported = image_sets.write_image_set_lists(dataset, data_dir=data_dir, train_per_class=train_per_class,
                                                    test_per_class=test_per_class, seed=seed, progress=progress)
        names = exported.class_names
        train = _read(exported.train, f"--dataset {dataset}", len(names))
        test = _read(exported.test, f"--dataset {dataset}", len(names))
        check_classes(train, test, names)
        return LabelledLists(dataset, train, test, names, exported.source)
    if dataset == "15scene":
        data_dir = scene15.DEFAULT_DATA_DIR if data_dir is None else data_dir
        lists = scene15.write_lists(data_dir, train_per_class=train_per_class, seed=seed, url=url, progress=progress)
        names = lists.class_names
        train = _read(lists.train, "--dataset 15scene", len(names))
        test = _read(lists.test, "--dataset 15scene", len(names))
        check_classes(train, test, names)
        return LabelledLists("15scene", train, test, names)
    raise FeaturesSvmError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
