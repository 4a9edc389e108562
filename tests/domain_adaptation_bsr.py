"""A small BSR_bsds500.tgz in the real layout (BSR/BSDS500/data/images/{train,val,test}/*.jpg, Thumbs.db,
groundTruth .mat names), with hostile members a safe reader must ignore, for the MNIST-M tests.

Like the real archive it holds 200 training photos (small uniform ones, colours TRAIN_COLOURS in
turn); `extra` adds members (hostile ones for the fault tests), `train_photos` changes the count."""
from __future__ import annotations

import io
import tarfile

import cv2
import numpy as np

TRAIN_COLOURS = ((200, 40, 10), (10, 120, 250), (90, 90, 90))  # RGB of the uniform training photos
OTHER_COLOUR = (7, 7, 7)  # every photo outside images/train/ (val, test, hostile names)


def jpeg_bytes(rgb: tuple[int, int, int], height: int = 48, width: int = 64) -> bytes:
    """A uniform photo as JPEG (uniform colours survive JPEG compression almost exactly)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb[::-1]  # cv2 writes BGR
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return data.tobytes()


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


TRAIN_PHOTOS = 200


def train_colour(i: int) -> tuple[int, int, int]:
    """The colour of the i-th training photo (in name order)."""
    return TRAIN_COLOURS[i % len(TRAIN_COLOURS)]


def bsr_archive_bytes(train_photos: int = TRAIN_PHOTOS, extra: dict[str, bytes] | None = None) -> bytes:
    """Gzipped tar: `train_photos` training photos of TRAIN_COLOURS in turn, plus val/test photos, links and
    traversal names, plus the `extra` members {name: bytes}."""
    buf = io.BytesIO()
    other = jpeg_bytes(OTHER_COLOUR)
    photos = {colour: jpeg_bytes(colour, 32, 40) for colour in TRAIN_COLOURS}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for folder in ("BSR", "BSR/BSDS500", "BSR/BSDS500/data", "BSR/BSDS500/data/images",
                       "BSR/BSDS500/data/images/train"):
            _add(tar, folder, kind=tarfile.DIRTYPE)
        for i in range(train_photos):
            _add(tar, f"BSR/BSDS500/data/images/train/{100075 + i}.jpg", photos[train_colour(i)])
        _add(tar, "BSR/BSDS500/data/images/train/Thumbs.db", b"not an image")
        _add(tar, "BSR/BSDS500/data/images/val/3096.jpg", other)
        _add(tar, "BSR/BSDS500/data/images/test/2018.jpg", other)
        _add(tar, "BSR/BSDS500/data/groundTruth/train/100075.mat", b"MATLAB 5.0")
        _add(tar, "BSR/BSDS500/data/images/train/../../../../../escape.jpg", other)
        _add(tar, "/tmp/absolute_escape.jpg", other)
        _add(tar, "BSR/BSDS500/data/images/train/link.jpg", kind=tarfile.SYMTYPE, link="/etc/passwd")
        _add(tar, "BSR/BSDS500/data/images/train/hard.jpg", kind=tarfile.LNKTYPE,
             link="BSR/BSDS500/data/images/val/3096.jpg")
        _add(tar, "BSR/BSDS500/data/images/train/nested/deeper.jpg", other)
        for name, data in (extra or {}).items():
            _add(tar, name, data)
    return buf.getvalue()
