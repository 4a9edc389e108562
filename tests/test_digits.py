"""The 28x28 image sets: bundled digits offline, MNIST / Fashion-MNIST through a loopback server."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.digit_files import fashion_files, mnist_npz_bytes
from tests.loopback_server import Route, serve
from utilities.digits import DatasetUnavailable, load_image_set
from utilities.digits.keras_files import load_fashion_mnist, load_mnist


def test_sklearn_digits_look_like_mnist():
    data = load_image_set("digits")
    assert data.x_train.shape[1:] == (28, 28, 1) and data.x_train.dtype == np.float32
    assert len(data.x_train) + len(data.x_test) == 1797
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.x_train[:, :4].max() == 0 and data.x_train[:, -4:].max() == 0  # MNIST's empty border
    assert set(np.unique(data.y_test)) == set(range(10)) and data.num_classes == 10
    again = load_image_set("digits")
    np.testing.assert_array_equal(again.y_train, data.y_train)  # seeded split


def test_mnist_download_parse_and_cache(tmp_path):
    body = mnist_npz_bytes()
    with serve({"/mnist.npz": Route(body)}) as (base, hits):
        kwargs = dict(base_url=base + "/", file_hash=hashlib.sha256(body).hexdigest(), cache=tmp_path,
                      progress=False)
        data = load_mnist(**kwargs)
        load_mnist(**kwargs)
        assert hits["/mnist.npz"] == 1
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_test.shape == (10, 28, 28, 1)
    assert data.x_train.max() <= 1.0 and list(data.y_test) == list(range(10))


def test_fashion_mnist_idx_files(tmp_path):
    files = fashion_files()
    with serve({f"/{name}": Route(body) for name, body in files.items()}) as (base, _):
        data = load_fashion_mnist(base_url=base + "/", cache=tmp_path, system_dir=tmp_path / "no-debian-copy",
                                  progress=False, log=None)
    assert data.x_train.shape == (30, 28, 28, 1) and data.class_names[9] == "Ankle boot"
    assert (tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_offline_error_names_url_and_path(tmp_path):
    with serve({}) as (base, _):
        with pytest.raises(DatasetUnavailable, match=r"mnist\.npz.*by hand.*" + str(tmp_path)):
            load_mnist(base_url=base + "/", cache=tmp_path, progress=False)
    assert not (tmp_path / "mnist.npz").exists()


def test_unknown_dataset():
    with pytest.raises(ValueError, match="choose one of"):
        load_image_set("cifar")
