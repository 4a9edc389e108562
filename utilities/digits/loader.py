"""One entry point for the 28x28 image sets, whatever their source."""
from __future__ import annotations

from utilities.digits.image_set import DATASETS, ImageSet
from utilities.digits.keras_files import load_keras_set
from utilities.digits.sklearn_digits import load_sklearn_digits


def load_image_set(name: str, **kwargs) -> ImageSet:
    """The image set `name` (one of DATASETS); keyword arguments go to its loader."""
    if name == "digits":
        return load_sklearn_digits(**kwargs)
    if name in ("mnist", "fashion_mnist"):
        return load_keras_set(name, **kwargs)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
