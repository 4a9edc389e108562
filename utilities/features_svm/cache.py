"""On-disk feature cache: one `.npz` per (model, weights, layer, image list, size, precision...).

The key is a SHA-256 of everything the features depend on: the network and its weight file's
identity (resolved path, size, modification time; the seed for `--weights random`), the tap,
the pooling, the input size, the precision, and the image list's content (each path and label
with the file's size and modification time, so an edited list or a replaced image misses).
A second run with another C or classifier finds the file and never builds the network.
Files are written atomically (temporary name, then rename), so a killed run leaves no half cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from utilities.common.atomic import atomic_path
from utilities.features_svm.extract import Features
from utilities.wikiart.dataset import ImageList

CACHE_VERSION = 1


def file_identity(path: str | os.PathLike) -> dict:
    """Resolved path, size and modification time (cheap; a replaced file changes at least one)."""
    path = Path(path).resolve()
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def list_identity(image_list: ImageList) -> str:
    """SHA-256 of the list's (path, label, size, mtime) lines."""
    digest = hashlib.sha256()
    for path, label in zip(image_list.paths, image_list.labels.tolist(), strict=True):
        try:
            stat = os.stat(path)
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size = mtime = -1
        digest.update(f"{path}\t{label}\t{size}\t{mtime}\n".encode())
    return digest.hexdigest()


def cache_key(parts: dict) -> str:
    """A short stable hash of `parts` (JSON with sorted keys)."""
    text = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class FeatureCache:
    """`<directory>/<stem>-<key>.npz` files holding features, labels and the valid mask."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path(self, stem: str, key: str) -> Path:
        return self.directory / f"{stem}-{key}.npz"

    def load(self, stem: str, key: str) -> tuple[Features, dict] | None:
        """(features, the `parts` saved with them), or None when absent or unreadable (recomputed then)."""
        path = self.path(stem, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != key:
                    return None
                parts = json.loads(str(data["parts"]))
                return Features(data["features"], data["labels"], data["valid"]), parts
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    def save(self, stem: str, key: str, features: Features, parts: dict) -> Path:
        path = self.path(stem, key)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, features=features.features, labels=features.labels, valid=features.valid,
                         key=np.asarray(key), parts=np.asarray(json.dumps(parts, sort_keys=True, default=str)))
        return path
