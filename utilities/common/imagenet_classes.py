"""ImageNet class names shipped with the project (no download at run time).

`imagenet_classes.tsv` beside this file has columns index, wnid, name, synonyms (the Caffe
synset words). Models with another number of classes (the fine-tuned ones of 3a) get
"class <i>" names unless a list of names is given.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

CLASSES_FILE = Path(__file__).with_name("imagenet_classes.tsv")
NUM_IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    name: str
    synonyms: str


@functools.cache
def imagenet_classes(path: str | Path = CLASSES_FILE) -> tuple[ImageNetClass, ...]:
    """All 1000 classes in index order; checks the file is complete and in order."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    classes = tuple(ImageNetClass(int(r["index"]), r["wnid"], r["name"], r["synonyms"]) for r in rows)
    if [c.index for c in classes] != list(range(NUM_IMAGENET_CLASSES)):
        raise ValueError(f"{path}: expected class indices 0..{NUM_IMAGENET_CLASSES - 1} in order")
    return classes


def class_names(num_classes: int = NUM_IMAGENET_CLASSES) -> list[str]:
    """Short names for a model with `num_classes` outputs (ImageNet names when 1000)."""
    if num_classes == NUM_IMAGENET_CLASSES:
        return [c.name for c in imagenet_classes()]
    return [f"class {i}" for i in range(num_classes)]
