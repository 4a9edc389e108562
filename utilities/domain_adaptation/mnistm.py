"""MNIST-M (Ganin & Lempitsky 2015): MNIST digits blended with BSDS500 photo patches, built once.

`load_mnistm` returns the cached `mnistm.npz` (uint8 RGB, MNIST's labels and split) when it
exists and was built with the same seed; otherwise it downloads BSR_bsds500.tgz (once),
blends all 70,000 MNIST digits (`blend.blend_with_photos`, seeded: a rebuild gives the same
images) and writes the cache atomically, so a killed build leaves no half file.

A cache that cannot be used (truncated or not a zip, a missing key, arrays of the wrong shape
or type, checked from the .npy headers before any array is read; another seed or format; labels
that are not this MNIST's) is rebuilt, with a one-line note on stderr saying why. Pickled
objects are never loaded (`allow_pickle=False`). A build happens only from all 200 BSDS500
training photos (`bsds.read_bsds_photos` refuses a corrupt or incomplete archive), so a partial
MNIST-M is never cached.
"""
from __future__ import annotations

import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.common.atomic import atomic_path
from utilities.digits import ImageSet
from utilities.domain_adaptation.blend import blend_with_photos
from utilities.domain_adaptation.bsds import ARCHIVE_NAME, BSDS_URL, PhotosUnavailable, fetch_bsds, read_bsds_photos

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


ARRAYS = ("x_train", "y_train", "x_test", "y_test", "seed", "version")


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{array name: (shape, dtype)} of an .npz from the .npy headers alone (nothing is loaded)."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            with archive.open(name) as f:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"{name} has .npy format version {version}")
                shape, _, dtype = read(f)
                headers[name[:-len(".npy")]] = (tuple(shape), dtype)
    return headers


def cache_problem(path: Path, mnist: ImageSet) -> str | None:
    """Why `path` cannot serve as MNIST-M for `mnist` (None: it can), judged from its headers."""
    try:
        headers = _npz_headers(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        return f"is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    missing = [name for name in ARRAYS if name not in headers]
    if missing:
        return f"has no {', '.join(missing)}"
    for split, digits in (("train", mnist.x_train), ("test", mnist.x_test)):
        want = (len(digits), *digits.shape[1:3], 3)
        shape, dtype = headers[f"x_{split}"]
        if shape != want or dtype != np.uint8:
            return f"holds x_{split} of shape {shape} and type {dtype}, not {want} uint8"
        shape, dtype = headers[f"y_{split}"]
        if shape != (len(digits),) or dtype.kind not in "iu":
            return f"holds y_{split} of shape {shape} and type {dtype}, not ({len(digits)},) integers"
    return None


def _read_cache(path: Path, mnist: ImageSet, seed: int) -> tuple[BlendedSet | None, str | None]:
    """(the cached set, None) or (None, why it is rebuilt)."""
    problem = cache_problem(path, mnist)
    if problem:
        return None, problem
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["seed"]) != seed or int(f["version"]) != FORMAT_VERSION:
                return None, f"was built with seed {int(f['seed'])}, format {int(f['version'])}"
            data = BlendedSet("mnistm", f["x_train"], f["y_train"], f["x_test"], f["y_test"])
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        return None, f"is unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if not (np.array_equal(data.y_train, mnist.y_train) and np.array_equal(data.y_test, mnist.y_test)):
        return None, "holds labels that are not this MNIST's"
    return data, None


def write_cache(path: Path, data: BlendedSet, seed: int) -> Path:
    """Write `data` to `path` atomically (temporary name + rename)."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
                            y_test=data.y_test, seed=np.int64(seed), version=np.int64(FORMAT_VERSION))
    return path


def load_mnistm(mnist: ImageSet, cache_dir: Path, *, seed: int = BUILD_SEED, url: str = BSDS_URL,
                progress: bool = True) -> BlendedSet:
    """MNIST-M from `cache_dir/mnistm.npz`, built from `mnist` and BSDS500 the first time (or when the cache
    cannot be used: rebuilt, with a one-line note on stderr)."""
    path = Path(cache_dir) / CACHE_NAME
    if path.is_dir():
        raise PhotosUnavailable(f"{path} is a folder, where MNIST-M's cache file goes; remove it or choose "
                                "another --data-dir")
    if path.exists():
        cached, problem = _read_cache(path, mnist, seed)
        if cached is not None:
            return cached
        print(f"note: {path} {problem}; rebuilding it from MNIST and {ARCHIVE_NAME}", file=sys.stderr, flush=True)
    photos = read_bsds_photos(fetch_bsds(cache_dir, url=url, progress=progress))
    data = build_blended_set("mnistm", mnist, photos, seed)
    write_cache(path, data, seed)
    return data
