"""BSDS500 photos for MNIST-M: download `BSR_bsds500.tgz` once and read its training photos.

The archive (about 70 MB) goes through `utilities.common.downloads.download_file`: atomic,
progress bar, and offline a one-line error naming the URL and the path to save it to.
The photos are read straight from the archive into memory; nothing from it is written to
disk, so member names cannot escape the cache (no path traversal), and only regular `.jpg`
files under `BSR/BSDS500/data/images/train/` are read (links, devices, `..` names ignored),
the 200 photos Ganin's MNIST-M script (and pumpikano/tf-dann's create_mnistm.py) uses.
"""
from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

import cv2
import numpy as np

from utilities.common.downloads import DownloadError, download_file

BSDS_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
ARCHIVE_NAME = "BSR_bsds500.tgz"
TRAIN_PREFIX = "BSR/BSDS500/data/images/train/"


class PhotosUnavailable(RuntimeError):
    """The BSDS500 photos cannot be downloaded or read; the message says what to do."""


def fetch_bsds(cache_dir: Path, *, url: str = BSDS_URL, progress: bool = True) -> Path:
    """The archive in `cache_dir`, downloaded once (an existing copy is reused without network)."""
    try:
        return download_file(url, Path(cache_dir) / ARCHIVE_NAME, progress=progress,
                             description=ARCHIVE_NAME)
    except DownloadError as exc:
        raise PhotosUnavailable(f"BSDS500 photos for MNIST-M: {exc}") from None


def is_training_photo(member: tarfile.TarInfo) -> bool:
    """A regular .jpg file directly inside the training-images folder, with a plain relative name."""
    name = member.name
    if not member.isfile() or name.startswith("/") or "\\" in name:
        return False
    if posixpath.normpath(name) != name or ".." in name.split("/"):
        return False
    return name.startswith(TRAIN_PREFIX) and "/" not in name[len(TRAIN_PREFIX):] and name.lower().endswith(".jpg")


def read_bsds_photos(archive: Path) -> list[np.ndarray]:
    """The training photos of a BSR_bsds500.tgz as uint8 RGB arrays, in name order."""
    photos = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = sorted((m for m in tar.getmembers() if is_training_photo(m)), key=lambda m: m.name)
            for member in members:
                data = tar.extractfile(member).read()
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:  # an unreadable photo is skipped, as in the original script
                    photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PhotosUnavailable(f"{archive} is not a readable BSDS500 archive ({exc}); "
                                f"delete it and run again, or download {BSDS_URL} by hand to that path") from None
    if not photos:
        raise PhotosUnavailable(f"{archive} has no photos under {TRAIN_PREFIX}; it is not BSR_bsds500.tgz. "
                                f"Delete it and run again, or download {BSDS_URL} by hand to that path")
    return photos
