"""Offline stand-in for BSDS500: the colour photographs that ship with scikit-image.

`--dataset digits` blends scikit-learn's digits with patches of these, the same way MNIST-M
blends MNIST with BSDS500: real photos (people, a cat, coffee, a rocket, a galaxy field, a
stained tissue section), no network needed.
"""
from __future__ import annotations

import numpy as np

SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def skimage_photos(names: tuple[str, ...] = SKIMAGE_PHOTOS) -> list[np.ndarray]:
    """The named `skimage.data` photos as uint8 RGB arrays (all bundled with scikit-image)."""
    import skimage.data

    return [np.ascontiguousarray(getattr(skimage.data, name)()[..., :3], dtype=np.uint8) for name in names]
