"""MNIST-M (Ganin & Lempitsky 2015): MNIST digits blended with BSDS500 photo patches, built once.

`load_mnistm` returns the cached `mnistm.npz` (uint8 RGB, MNIST's labels and split) when it
exists and was built with the same seed; otherwise it downloads BSR_bsds500.tgz (once),
blends all 70,000 MNIST digits (`blend.blend_with_photos`, seeded: a rebuild gives the same
images) and writes the cache atomically, so a killed build leaves no half file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.common.atomic import atomic_path
from utilities.digits import ImageSet
from utilities.domain_adaptation.blend import blend_with_photos
from utilities.domain_adaptation.bsds import BSDS_URL, fetch_bsds, read_bsds_photos

CACHE_NAME = "mnistm.npz"
BUILD_SEED = 42  # pumpikano/tf-dann's create_mnistm.py seed
FORMAT_VERSION = 1


@dataclass(frozen=True)
class BlendedSet:
    """A target domain: uint8 RGB images (N, 28, 28, 3) with the digits' labels (for evaluation only)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def build_blended_set(name: str, digits: ImageSet, photos: list[np.ndarray], seed: int) -> BlendedSet:
    """Blend the train then the test digits of `digits` with `photos` (one seeded generator)."""
    rng = np.random.default_rng(seed)
    x_train = blend_with_photos(digits.x_train, photos, rng)
    x_test = blend_with_photos(digits.x_test, photos, rng)
    return BlendedSet(name, x_train, np.asarray(digits.y_train, np.int64), x_test, np.asarray(digits.y_test, np.int64))


def _read_cache(path: Path, seed: int) -> BlendedSet | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["seed"]) != seed or int(f["version"]) != FORMAT_VERSION:
                return None
            return BlendedSet("mnistm", f["x_train"], f["y_train"], f["x_test"], f["y_test"])
    except (OSError, KeyError, ValueError, EOFError):
        return None  # unreadable or foreign: rebuilt (and replaced atomically)


def write_cache(path: Path, data: BlendedSet, seed: int) -> Path:
    """Write `data` to `path` atomically (temporary name + rename)."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
                            y_test=data.y_test, seed=np.int64(seed), version=np.int64(FORMAT_VERSION))
    return path


def load_mnistm(mnist: ImageSet, cache_dir: Path, *, seed: int = BUILD_SEED, url: str = BSDS_URL,
                progress: bool = True) -> BlendedSet:
    """MNIST-M from `cache_dir/mnistm.npz`, built from `mnist` and BSDS500 the first time."""
    path = Path(cache_dir) / CACHE_NAME
    if path.exists() and (cached := _read_cache(path, seed)) is not None:
        return cached
    photos = read_bsds_photos(fetch_bsds(cache_dir, url=url, progress=progress))
    data = build_blended_set("mnistm", mnist, photos, seed)
    write_cache(path, data, seed)
    return data
