"""BSDS500 photos for MNIST-M: download `BSR_bsds500.tgz` once and read its training photos.

The archive (about 70 MB) goes through `utilities.common.downloads.download_file`: atomic,
progress bar, and offline a one-line error naming the URL and the path to save it to.
The photos are read straight from the archive into memory by `utilities.common.archives.
read_tar_members`; nothing from it is written to disk, so member names cannot escape the cache
(no path traversal), and only regular `.jpg` files directly under `BSR/BSDS500/data/images/train/`
are read (links, devices, `..` names ignored): the 200 photos Ganin's MNIST-M script (and
pumpikano/tf-dann's create_mnistm.py) uses.

Refused with one line (PhotosUnavailable), so that no partial MNIST-M is ever built and cached:
a corrupt or truncated archive (the whole stream is checked, to gzip's CRC at its end); a
training member over MAX_PHOTO_BYTES (read never: refused from its header); a picture whose
header gives more than `image_limits.MAX_PIXELS` pixels (refused before decoding); a photo that
does not decode; and any number of training photos other than the real archive's 200.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from utilities.common.archives import ArchiveError, read_tar_members
from utilities.common.downloads import DownloadError, download_file
from utilities.common.image_limits import MAX_PIXELS, header_pixels

BSDS_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
ARCHIVE_NAME = "BSR_bsds500.tgz"
TRAIN_PREFIX = "BSR/BSDS500/data/images/train/"
TRAIN_PHOTOS = 200               # BSR_bsds500.tgz holds 200 training photos (481x321 or 321x481 JPEGs)
MAX_PHOTO_BYTES = 16 << 20       # one photo (the real ones are 30-150 kB)
MAX_PHOTOS_BYTES = 256 << 20     # all training photos together (the real ones: about 20 MB)
REDO = f"delete it and run again, or download {BSDS_URL} by hand to that path"


class PhotosUnavailable(RuntimeError):
    """The BSDS500 photos cannot be downloaded or read; the message says what to do."""


def fetch_bsds(cache_dir: Path, *, url: str = BSDS_URL, progress: bool = True) -> Path:
    """The archive in `cache_dir`, downloaded once (an existing copy is reused without network)."""
    try:
        return download_file(url, Path(cache_dir) / ARCHIVE_NAME, progress=progress,
                             description=ARCHIVE_NAME)
    except DownloadError as exc:
        raise PhotosUnavailable(f"BSDS500 photos for MNIST-M: {exc}") from None


def is_training_photo_name(name: str) -> bool:
    """A .jpg directly inside the training-images folder (plain names are checked by the archive reader)."""
    return name.startswith(TRAIN_PREFIX) and "/" not in name[len(TRAIN_PREFIX):] and name.lower().endswith(".jpg")


def decode_photo(archive: Path, name: str, data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One photo's bytes -> uint8 RGB, the pixel count checked from the header before decoding."""
    pixels = header_pixels(data)
    if pixels is not None and pixels > max_pixels:
        size = "over 179" if pixels == float("inf") else f"{pixels / 1e6:.0f}"
        raise PhotosUnavailable(f"{archive}: {name} has {size} megapixels, over the {max_pixels / 1e6:.0f}-megapixel "
                                f"limit; it is not BSR_bsds500.tgz ({REDO})")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotosUnavailable(f"{archive}: {name} is not a readable photo; the archive is damaged "
                                f"({REDO})")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_bsds_photos(archive: Path, *, expected: int = TRAIN_PHOTOS) -> list[np.ndarray]:
    """The `expected` training photos of a BSR_bsds500.tgz as uint8 RGB arrays, in name order."""
    archive = Path(archive)
    try:
        members = read_tar_members(archive, is_training_photo_name, max_member_bytes=MAX_PHOTO_BYTES,
                                   max_total_bytes=MAX_PHOTOS_BYTES)
    except ArchiveError as exc:
        raise PhotosUnavailable(f"{exc}; {REDO}") from None
    if not members:
        raise PhotosUnavailable(f"{archive} has no photos under {TRAIN_PREFIX}; it is not BSR_bsds500.tgz. "
                                f"Delete it and run again, or download {BSDS_URL} by hand to that path")
    if len(members) != expected:
        raise PhotosUnavailable(f"{archive} holds {len(members)} training photos under {TRAIN_PREFIX}, not the "
                                f"{expected} of BSR_bsds500.tgz; {REDO}")
    return [decode_photo(archive, name, members[name]) for name in sorted(members)]
