"""Downloads against a loopback server: good file, 404, truncated body, wrong hash, caching."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

import models
from models import pretrained
from tests.loopback_server import Route, serve
from tests.synthetic_weights import write_pickled_npy
from utilities.common.downloads import DownloadError, download_file

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, several read chunks


def _routes():
    return {
        "/good.bin": Route(PAYLOAD),
        "/cut.bin": Route(PAYLOAD[:5000], content_length=len(PAYLOAD)),
    }


def test_good_file_with_hash_and_cache(tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    with serve(_routes()) as (base, hits):
        dest = download_file(f"{base}/good.bin", tmp_path / "w" / "good.bin", file_hash=sha, progress=False)
        assert dest.read_bytes() == PAYLOAD
        download_file(f"{base}/good.bin", dest, file_hash=sha, progress=False)
        assert hits["/good.bin"] == 1, "a valid cached file must not be fetched again"
    assert [p.name for p in dest.parent.iterdir()] == ["good.bin"]


def test_404_names_url_and_destination(tmp_path):
    with serve(_routes()) as (base, _):
        with pytest.raises(DownloadError) as info:
            download_file(f"{base}/missing.bin", tmp_path / "x.bin", progress=False)
    message = str(info.value)
    assert f"{base}/missing.bin" in message and str((tmp_path / "x.bin").resolve()) in message
    assert "404" in message
    assert not any(tmp_path.iterdir()), "no partial file may remain"


def test_truncated_body_leaves_nothing(tmp_path):
    with serve(_routes()) as (base, _):
        with pytest.raises(DownloadError, match="cut off|Incomplete|could not download"):
            download_file(f"{base}/cut.bin", tmp_path / "cut.bin", progress=False)
    assert not any(tmp_path.iterdir())


def test_wrong_hash_rejected_and_stale_file_replaced(tmp_path):
    dest = tmp_path / "good.bin"
    with serve(_routes()) as (base, hits):
        with pytest.raises(DownloadError, match="hash does not match"):
            download_file(f"{base}/good.bin", dest, file_hash="0" * 64, progress=False)
        assert not dest.exists()
        dest.write_bytes(b"stale half download")
        md5 = hashlib.md5(PAYLOAD).hexdigest()
        download_file(f"{base}/good.bin", dest, file_hash=md5, progress=False)
        assert dest.read_bytes() == PAYLOAD and hits["/good.bin"] == 2


def test_alexnet_weights_downloaded_and_loaded(tmp_path):
    from tests.synthetic_weights import alexnet_arrays

    arrays = alexnet_arrays(seed=0)
    blob_path = write_pickled_npy(tmp_path / "src.npy", arrays)
    with serve({"/bvlc_alexnet.npy": Route(blob_path.read_bytes())}) as (base, _):
        path = pretrained.alexnet_weights(url=f"{base}/bvlc_alexnet.npy", weights_dir=tmp_path / "weights",
                                          progress=False)
    assert path == tmp_path / "weights" / "bvlc_alexnet.npy"
    model = models.build_model("alexnet", weights=path)
    np.testing.assert_array_equal(model.get_layer("conv5").get_weights()[0], arrays["conv5"][0])


def test_alexnet_offline_message(tmp_path):
    with serve({}) as (base, _):
        with pytest.raises(models.WeightsError) as info:
            pretrained.alexnet_weights(url=f"{base}/bvlc_alexnet.npy", weights_dir=tmp_path, progress=False)
    message = str(info.value)
    assert "bvlc_alexnet.npy" in message and str(tmp_path.resolve()) in message and "by hand" in message


def test_vgg16_get_file_hash_checked(tmp_path):
    good = Route(PAYLOAD)
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    with serve({"/vgg.h5": good}) as (base, hits):
        path = pretrained.vgg16_weights(url=f"{base}/vgg.h5", file_hash=md5, cache_dir=tmp_path / "models")
        assert path.read_bytes() == PAYLOAD
        pretrained.vgg16_weights(url=f"{base}/vgg.h5", file_hash=md5, cache_dir=tmp_path / "models")
        assert hits["/vgg.h5"] == 1
        with pytest.raises(models.WeightsError, match="download .* by hand") as info:
            pretrained.vgg16_weights(url=f"{base}/vgg.h5", file_hash="f" * 32, cache_dir=tmp_path / "other")
    assert not isinstance(info.value, pretrained.WeightsUnreachable)   # reached, but the wrong file
    assert not (tmp_path / "other" / pretrained.VGG16_FILE).exists()


def test_vgg16_offline_message(tmp_path):
    with serve({}) as (base, _):
        with pytest.raises(pretrained.WeightsUnreachable) as info:   # a WeightsError (make run's cue)
            pretrained.vgg16_weights(url=f"{base}/vgg.h5", cache_dir=tmp_path / "models")
    message = str(info.value)
    assert str(tmp_path / "models" / pretrained.VGG16_FILE) in message and "--weights PATH" in message
