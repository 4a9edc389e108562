"""Write small MNIST / Fashion-MNIST files in the exact formats Keras downloads."""
from __future__ import annotations

import gzip
import io
import struct

import numpy as np


def mnist_npz_bytes(n_train: int = 30, n_test: int = 10, seed: int = 0) -> bytes:
    """An `mnist.npz` with keys x_train, y_train, x_test, y_test (uint8)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    np.savez(buf, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=(np.arange(n_train) % 10).astype(np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=(np.arange(n_test) % 10).astype(np.uint8))
    return buf.getvalue()


def idx_gz_bytes(array: np.ndarray) -> bytes:
    """A gzipped IDX file: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, then the bytes."""
    array = np.asarray(array, np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.tobytes())


def fashion_files(n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, bytes]:
    """The four Fashion-MNIST files by name."""
    rng = np.random.default_rng(seed)
    return {
        "train-labels-idx1-ubyte.gz": idx_gz_bytes(np.arange(n_train) % 10),
        "train-images-idx3-ubyte.gz": idx_gz_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_gz_bytes(np.arange(n_test) % 10),
        "t10k-images-idx3-ubyte.gz": idx_gz_bytes(rng.integers(0, 256, (n_test, 28, 28))),
    }
