"""IDX files (the format of MNIST and Fashion-MNIST), read and checked: magic number, dimensions, length, labels.

An IDX file is a 4-byte magic number (0, 0, the element type, the number of dimensions), one
big-endian uint32 per dimension, then the elements. MNIST-style sets use unsigned bytes (type
0x08): labels are 1-D (N), images 3-D (N, rows, cols). Files may be gzipped (the published
`.gz`) or plain (after `gunzip`). Every check failure is an `IdxError`: one line naming the file.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from utilities.digits.image_set import DatasetUnavailable

UBYTE = 0x08
MAX_IDX_BYTES = 96 * 1024 * 1024  # the largest file (Fashion-MNIST's training images) is 47,040,016 bytes


class IdxError(DatasetUnavailable):
    """An IDX file that cannot be read or is not what it should be; the message names the file."""


def _read_bytes(path: Path, limit: int) -> bytes:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise IdxError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; truncated: EOFError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IdxError(f"{path}: not a readable {'gzipped ' if opener is gzip.open else ''}IDX file "
                       f"({reason})") from None
    if len(data) > limit:
        raise IdxError(f"{path}: more than {limit} bytes, too large for an MNIST-style IDX file")
    return data


def read_idx(path: str | os.PathLike, ndim: int, *, limit: int = MAX_IDX_BYTES) -> np.ndarray:
    """The uint8 array of an IDX file with `ndim` dimensions, every header field checked."""
    path = Path(path)
    data = _read_bytes(path, limit)
    if len(data) < 4:
        raise IdxError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero1, zero2, kind, dims = data[:4]
    if zero1 or zero2:
        raise IdxError(f"{path}: magic number {data[:4].hex()} is not an IDX file's (it starts with two zero bytes)")
    if kind != UBYTE:
        raise IdxError(f"{path}: element type 0x{kind:02x}, expected 0x08 (unsigned byte)")
    if dims != ndim:
        raise IdxError(f"{path}: {dims} dimensions, expected {ndim} "
                       f"({'labels: (N,)' if ndim == 1 else 'images: (N, rows, cols)'})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{path}: {len(data)} bytes, too short for a {ndim}-D IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected:
        raise IdxError(f"{path}: header says shape {shape} ({expected} bytes), the file holds "
                       f"{len(data) - header} bytes after the header (truncated or padded)")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike, *, side: int = 28,
                  num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, side, side) uint8 and labels (N,) int64 in 0..num_classes-1, from two IDX files that agree."""
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if images.shape[1:] != (side, side):
        raise IdxError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]} pixels, expected {side}x{side}")
    if len(images) == 0:
        raise IdxError(f"{images_path}: holds no images")
    if len(images) != len(labels):
        raise IdxError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {Path(images_path).name}")
    if labels.max() >= num_classes:
        bad = int(np.flatnonzero(labels >= num_classes)[0])
        raise IdxError(f"{labels_path}: label {labels[bad]} at index {bad}, expected 0..{num_classes - 1}")
    return images, labels.astype(np.int64)
