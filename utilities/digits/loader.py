"""One entry point for the 28x28 image sets, whatever their source."""
from __future__ import annotations

from utilities.digits.fashion_mnist import load_fashion_mnist
from utilities.digits.image_set import DATASETS, ImageSet
from utilities.digits.keras_files import load_mnist
from utilities.digits.mnist5k import load_mnist5k
from utilities.digits.sklearn_digits import load_sklearn_digits

DATA_DIR_DATASETS = ("fashion_mnist", "mnist5k")
"""The sets a `data_dir` (the CLIs' --data-dir: a folder holding another copy of the files) applies to."""


def load_image_set(name: str, **kwargs) -> ImageSet:
    """The image set `name` (one of DATASETS); keyword arguments go to its loader."""
    loaders = {"digits": load_sklearn_digits, "mnist": load_mnist, "fashion_mnist": load_fashion_mnist,
               "mnist5k": load_mnist5k}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return loaders[name](**kwargs)
