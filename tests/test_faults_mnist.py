"""The MNIST loader against a hand-placed file that is not the published one (issue 24 case 15)."""
from __future__ import annotations

import hashlib

import pytest

from tests.digit_files import mnist_npz_bytes
from tests.loopback_server import Route, serve
from utilities.digits import DatasetUnavailable
from utilities.digits.keras_files import MNIST_SHA256, load_mnist


def test_a_hand_placed_mnist_npz_with_the_wrong_hash_is_named_and_kept(tmp_path):
    body = mnist_npz_bytes()
    placed = tmp_path / "mnist.npz"
    placed.write_bytes(body)
    with serve({"/mnist.npz": Route(body)}) as (base, hits):
        with pytest.raises(DatasetUnavailable) as caught:
            load_mnist(base_url=base + "/", cache=tmp_path, progress=False)
        assert hits.get("/mnist.npz", 0) == 0          # nothing fetched over the user's file
    message = str(caught.value)
    assert f"the file at {placed.resolve()} does not match the published hash" in message
    assert f"got sha256 {hashlib.sha256(body).hexdigest()}" in message and f"expected {MNIST_SHA256}" in message
    assert "save it as" not in message and "\n" not in message
    assert placed.read_bytes() == body                 # never replaced or deleted


def test_a_hand_placed_mnist_npz_with_the_right_hash_is_used(tmp_path):
    body = mnist_npz_bytes()
    (tmp_path / "mnist.npz").write_bytes(body)
    data = load_mnist(base_url="http://127.0.0.1:9/", cache=tmp_path, progress=False,
                      file_hash=hashlib.sha256(body).hexdigest())
    assert data.x_test.shape == (10, 28, 28, 1)
