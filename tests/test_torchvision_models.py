"""torchvision's vgg16, vgg19 and squeezenet1_1 checkpoints in the Keras networks: logits equal PyTorch's.

tests/fixtures/torch/make_fixtures.py ran real torch/torchvision once: the full torchvision
squeezenet1_1 with random weights (legacy format as float16, zip format as float32), narrow
VGG16/VGG19 networks with torchvision's module names and forward (zip float32, legacy bfloat16),
and the logits torch computed on seeded images. Here the Keras models load those files through
`models.build_model` and see the same images through `models.preprocess_for`. No test imports torch.
"""
from __future__ import annotations

import hashlib
import json
import lzma
from pathlib import Path

import keras
import numpy as np
import pytest

import models
from models import pretrained, squeezenet, torchvision_weights
from models.loading import assign_weights
from models.preprocessing import TORCH_MEAN_RGB, TORCH_STD_RGB
from models.torchvision_weights import chw_to_hwc_rows, conv_kernel, dense_kernel, to_keras_weights
from tests.loopback_server import Route, serve

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torch"
NARROW = {"conv_widths": (8, 16, 24, 32, 32), "fc_widths": (64, 64)}
REL_TOL = 1e-4   # float32 sums in another order (oneDNN vs torch's CPU kernels), relative to the logits' range


def images(seed: int, n: int, h: int, w: int) -> np.ndarray:
    """The fixture script's images (RandomState's stream is frozen): RGB 0..255, channels last."""
    return np.random.RandomState(seed).randint(0, 256, (n, h, w, 3)).astype(np.float32)


def _close(actual, expected) -> None:
    scale = float(np.abs(expected).max())
    assert scale > 1.0, "degenerate logits would make the comparison meaningless"
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=REL_TOL * scale)


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def squeezenet_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("torch")
    out = {}
    for fmt in ("legacy", "zip"):
        out[fmt] = folder / f"squeezenet1_1_random.{fmt}.pth"
        out[fmt].write_bytes(lzma.decompress((FIXTURES / f"{out[fmt].name}.xz").read_bytes()))
    return out


def _torchvision_shapes(name: str) -> dict[str, list[int]]:
    return json.loads((FIXTURES / "torchvision_state_dicts.json").read_text())[name]


# --- SqueezeNet 1.1 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_squeezenet_logits_equal_torch(squeezenet_files, expected, fmt):
    path = squeezenet_files[fmt]
    model = models.build_model("squeezenet", path)
    assert model.input_shape == (None, 224, 224, 3)
    preprocess = models.preprocess_for("squeezenet", path)
    _close(model(preprocess(images(0, 2, 224, 224)), training=False), expected["sq224_logits"])
    # Other sizes: ceil-mode pooling differs from floor mode there (227: 56 -> 28, not 27).
    anysize = models.build_model("squeezenet", path, input_size=None)
    _close(anysize(preprocess(images(1, 1, 227, 227))), expected["sq227_logits"])
    _close(anysize(preprocess(images(2, 1, 97, 130))), expected["sq97x130_logits"])


def test_squeezenet_features_equal_torch_at_227(squeezenet_files, expected):
    """Every features[i] of the handouts' loop (TORCHVISION_FEATURES) equals our layer, channel by channel."""
    model = models.build_model("squeezenet", squeezenet_files["zip"], input_size=None)
    indices = sorted(squeezenet.TORCHVISION_FEATURES)
    taps = keras.Model(model.input, [model.get_layer(squeezenet.TORCHVISION_FEATURES[i]).output for i in indices])
    x = models.preprocess_for("squeezenet", squeezenet_files["zip"])(images(1, 1, 227, 227))
    for i, feature in zip(indices, taps(x), strict=True):
        np.testing.assert_allclose(np.asarray(feature)[0].mean(axis=(0, 1)), expected[f"sq227_features_{i}_mean"],
                                   rtol=1e-4, atol=1e-4, err_msg=f"features[{i}]")


def test_ceil_mode_pool_sizes_and_default_unchanged():
    ceil = squeezenet.build_squeezenet(input_size=227, ceil_mode=True)
    floor = squeezenet.build_squeezenet(input_size=227)
    pools = ("pool1", "pool3", "pool5")
    assert [ceil.get_layer(p).output.shape[1] for p in pools] == [56, 28, 14]     # torchvision at 227
    assert [floor.get_layer(p).output.shape[1] for p in pools] == [56, 27, 13]    # the Keras original
    assert not [layer.name for layer in floor.layers if layer.name.endswith("_pad")]
    at224 = squeezenet.build_squeezenet(input_size=224, ceil_mode=True)
    assert [at224.get_layer(p).output.shape[1] for p in pools] == [55, 27, 13]    # equal to floor mode
    assert ceil.count_params() == floor.count_params() == 1_235_496


def test_ceil_mode_pool_equals_torch_formula():
    """ceil((n - 3) / 2) + 1 outputs for every size, maxima of windows starting inside the input."""
    for n in range(3, 40):
        x = np.random.default_rng(n).uniform(0, 1, (1, n, n + 1, 2)).astype(np.float32)
        inputs = keras.Input((n, n + 1, 2))
        pooled = keras.Model(inputs, squeezenet._pool(inputs, "p", ceil_mode=True))(x).numpy()
        rows, cols = (-(-(n - 3) // 2) + 1), (-(-(n - 2) // 2) + 1)
        assert pooled.shape == (1, rows, cols, 2)
        want = np.array([[x[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(0, 1)) for j in range(cols)]
                         for i in range(rows)])
        np.testing.assert_array_equal(pooled[0], want)


def test_full_squeezenet_state_dict_shapes():
    """torchvision's own key list and shapes (recorded by the fixture script) load into the ceil-mode model."""
    rng = np.random.default_rng(0)
    shapes = _torchvision_shapes("squeezenet1_1")
    state = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in shapes.items()}
    model = squeezenet.build_squeezenet(input_size=224, ceil_mode=True)
    loaded = assign_weights(model, to_keras_weights("squeezenet", state), source="torchvision squeezenet1_1")
    assert sorted(loaded) == sorted(squeezenet.WEIGHT_LAYERS)
    np.testing.assert_array_equal(model.get_layer("fire4_expand3x3").get_weights()[0],
                                  state["features.6.expand3x3.weight"].transpose(2, 3, 1, 0))


# --- VGG ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "file"), [("vgg16", "vgg16_narrow.zip.pth"), ("vgg19", "vgg19_narrow.legacy.pth")])
def test_narrow_vgg_logits_equal_torch(expected, name, file):
    """torchvision's VGG layout at 224 (fc1 rows CHW -> HWC) with narrow layers; vgg19's file is bfloat16."""
    path = FIXTURES / file
    model = models.build_model(name, path, **NARROW)
    x = models.preprocess_for(name, path)(images(3, 2, 224, 224))
    _close(model(x, training=False), expected[f"{name}_vgg224_logits"])


def test_vgg_remove_fc_keeps_the_torch_features(expected):
    path = FIXTURES / "vgg16_narrow.zip.pth"
    full = models.build_model("vgg16", path, **NARROW)
    cut = models.build_model("vgg16", path, remove_fc=1, num_classes=5, **NARROW)
    np.testing.assert_array_equal(cut.get_layer("fc2").get_weights()[0], full.get_layer("fc2").get_weights()[0])
    assert cut.output_shape == (None, 5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_full_vgg_state_dict_shapes(name):
    """torchvision's full key list and shapes load into the full-size builder (fc1: 25088 rows, HWC)."""
    shapes = _torchvision_shapes(name)
    state = {k: np.zeros(shape, np.float32) for k, shape in shapes.items()}
    state["classifier.0.weight"][7, 512 * 49 - 1] = 1.0      # c = 511, h = w = 6 (CHW index) ...
    model = models.get_spec(name).builder()
    assign_weights(model, to_keras_weights(name, state), source=f"torchvision {name}")
    kernel = model.get_layer("fc1").get_weights()[0]
    assert kernel[(6 * 7 + 6) * 512 + 511, 7] == 1.0 and kernel.sum() == 1.0   # ... is HWC row h*7*512 + w*512 + c


def test_layout_conversions_against_definitions():
    rng = np.random.default_rng(1)
    oihw = rng.standard_normal((5, 3, 2, 4))
    np.testing.assert_array_equal(conv_kernel(oihw)[1, 3, 2, 4], oihw[4, 2, 1, 3])
    linear = rng.standard_normal((6, 12))
    np.testing.assert_array_equal(dense_kernel(linear), linear.T)
    # A (C=3, H=2, W=2) map: torch's Linear on the CHW flattening == Keras' Dense on the HWC flattening.
    feature = rng.standard_normal((3, 2, 2))
    kernel = dense_kernel(linear)
    hwc = chw_to_hwc_rows(kernel, 3, 2, 2)
    np.testing.assert_allclose(feature.transpose(1, 2, 0).reshape(-1) @ hwc, linear @ feature.reshape(-1))


def test_vgg_layer_map_is_torchvision_indices():
    vgg16 = torchvision_weights.LAYER_MAPS["vgg16"]
    assert [vgg16[f"block{b}_conv1"] for b in range(1, 6)] == [f"features.{i}" for i in (0, 5, 10, 17, 24)]
    assert vgg16["block5_conv3"] == "features.28" and torchvision_weights.LAYER_MAPS["vgg19"]["block5_conv4"] == \
        "features.34"
    for name, tv in (("vgg16", "vgg16"), ("vgg19", "vgg19"), ("squeezenet", "squeezenet1_1")):
        modules = {k.rsplit(".", 1)[0] for k in _torchvision_shapes(tv)}
        assert modules == set(torchvision_weights.LAYER_MAPS[name].values())


# --- errors -------------------------------------------------------------------------------------------

def test_other_layouts_are_named():
    state = {k: np.zeros(s, np.float32) for k, s in _torchvision_shapes("squeezenet1_1").items()}
    state["features.1.running_mean"] = np.zeros(64, np.float32)
    with pytest.raises(models.WeightsError, match=r"features.1.running_mean belong to no layer.*batch-norm"):
        to_keras_weights("squeezenet", state, source="x.pth")
    with pytest.raises(models.WeightsError, match="no torchvision layout is known for 'alexnet'"):
        to_keras_weights("alexnet", state)
    with pytest.raises(models.WeightsError, match="torchvision weights load into .*not 'alexnet'"):
        models.build_model("alexnet", FIXTURES / "vgg16_narrow.zip.pth")


def test_vgg_file_in_squeezenet_names_the_keys():
    with pytest.raises(models.WeightsError, match="not a torchvision squeezenet1_1 state dict: features.2.weight"):
        models.build_model("squeezenet", FIXTURES / "vgg16_narrow.zip.pth")


def test_wrong_width_names_the_layer():
    with pytest.raises(models.WeightsError, match=r"layer 'block1_conv1': kernel has shape \(3, 3, 3, 8\) in the file"):
        models.build_model("vgg16", FIXTURES / "vgg16_narrow.zip.pth", conv_widths=(16, 16, 24, 32, 32),
                           fc_widths=(64, 64))


# --- preprocessing chosen by the weights ------------------------------------------------------------------

def test_preprocessing_follows_the_weights(expected, tmp_path):
    x = images(0, 1, 224, 224)
    for weights in ("imagenet-torch", FIXTURES / "vgg16_narrow.zip.pth", "my.pt", "ft.pth.tar"):
        spec = models.get_spec("vgg16", weights)
        assert spec.preprocessing == "torch" and spec.input_size == 224
    np.testing.assert_allclose(models.preprocess_for("squeezenet", "imagenet-torch")(x)[0, :4, :4].transpose(2, 0, 1),
                               expected["normalized_corner"], rtol=1e-6, atol=1e-6)
    for weights in (None, "imagenet", "random", "vgg16.npy", "w.h5"):
        spec = models.get_spec("squeezenet", weights)
        assert spec.preprocessing == "caffe" and spec.input_size == 227 and spec is models.get_spec("squeezenet")
    assert models.get_spec("squeezenet", "imagenet-torch").input_size == 224
    import tensorflow as tf

    np.testing.assert_allclose(models.preprocess_for("vgg16", "x.pth")(tf.constant(x)).numpy(),
                               (x / 255 - TORCH_MEAN_RGB) / TORCH_STD_RGB, rtol=1e-5, atol=1e-5)


# --- --weights imagenet-torch: torch's cache, Keras' cache, download --------------------------------------

def _fake_checkpoint(tmp_path: Path, stem: str) -> tuple[bytes, str]:
    data = (FIXTURES / "vgg16_narrow.zip.pth").read_bytes()
    return data, f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def test_download_checks_the_hash_prefix_and_caches(tmp_path, capsys):
    data, filename = _fake_checkpoint(tmp_path, "vgg16")
    with serve({f"/models/{filename}": Route(data)}) as (base, hits):
        url = f"{base}/models/{filename}"
        kwargs = {"url": url, "cache_dir": tmp_path / "keras", "torch_cache_dir": tmp_path / "torch"}
        path = pretrained.torchvision_imagenet_weights("vgg16", **kwargs)
        assert path == tmp_path / "keras" / filename and path.read_bytes() == data
        assert "sha256 prefix" in capsys.readouterr().err
        assert pretrained.torchvision_imagenet_weights("vgg16", **kwargs) == path
        assert hits[f"/models/{filename}"] == 1


def test_wrong_hash_is_refused_and_deleted(tmp_path):
    data, _ = _fake_checkpoint(tmp_path, "vgg16")
    wrong = "vgg16-00000000.pth"
    with serve({f"/models/{wrong}": Route(data)}) as (base, _hits):
        with pytest.raises(models.WeightsError, match="does not start with 00000000; refused and deleted"):
            pretrained.torchvision_imagenet_weights("vgg16", url=f"{base}/models/{wrong}", cache_dir=tmp_path / "k",
                                                    torch_cache_dir=tmp_path / "t")
    assert not (tmp_path / "k" / wrong).exists()


def test_torch_cache_is_used_without_network(tmp_path):
    data, filename = _fake_checkpoint(tmp_path, "squeezenet1_1")
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / filename).write_bytes(data)
    path = pretrained.torchvision_imagenet_weights("squeezenet", url=f"http://127.0.0.1:9/models/{filename}",
                                                   cache_dir=tmp_path / "keras", torch_cache_dir=tmp_path / "torch")
    assert path == tmp_path / "torch" / filename


def test_damaged_torch_cache_file_is_named_not_deleted(tmp_path):
    (tmp_path / "torch").mkdir()
    own = tmp_path / "torch" / "vgg19-dcbb9e9d.pth"
    own.write_bytes(b"half a file")
    with pytest.raises(models.WeightsError, match=f"{own}: its sha256 does not start with dcbb9e9d"):
        pretrained.torchvision_imagenet_weights("vgg19", cache_dir=tmp_path / "keras",
                                                torch_cache_dir=tmp_path / "torch")
    assert own.exists()


def test_offline_message_is_one_line_with_url_and_paths(tmp_path):
    url = "http://127.0.0.1:9/models/squeezenet1_1-b8a52dc0.pth"
    with pytest.raises(pretrained.WeightsUnreachable) as info:
        pretrained.torchvision_imagenet_weights("squeezenet", url=url, cache_dir=tmp_path / "keras",
                                                torch_cache_dir=tmp_path / "torch")
    message = str(info.value)
    assert "\n" not in message and url in message
    assert str(tmp_path / "keras" / "squeezenet1_1-b8a52dc0.pth") in message
    assert str(tmp_path / "torch" / "squeezenet1_1-b8a52dc0.pth") in message and "--weights PATH" in message
    assert not (tmp_path / "keras" / "squeezenet1_1-b8a52dc0.pth").exists()


def test_build_model_imagenet_torch(tmp_path, monkeypatch, squeezenet_files, expected):
    """--weights imagenet-torch end to end: default paths from $TORCH_HOME / $KERAS_HOME, the published URL's name."""
    data = squeezenet_files["legacy"].read_bytes()
    filename = f"squeezenet1_1-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with serve({f"/models/{filename}": Route(data)}) as (base, _hits):
        monkeypatch.setitem(torchvision_weights.TORCHVISION_URLS, "squeezenet", f"{base}/models/{filename}")
        model = models.build_model("squeezenet", "imagenet-torch")
    assert (tmp_path / "keras_home" / "models" / filename).exists()
    x = models.preprocess_for("squeezenet", "imagenet-torch")(images(0, 2, 224, 224))
    _close(model(x), expected["sq224_logits"])
    with pytest.raises(models.WeightsError, match="no torchvision ImageNet weights for 'alexnet'"):
        pretrained.torchvision_imagenet_weights("alexnet")


def test_published_names_carry_the_hash_prefixes():
    assert {name: pretrained.sha256_prefix(url) for name, url in torchvision_weights.TORCHVISION_URLS.items()} == {
        "vgg16": "397923af", "vgg19": "dcbb9e9d", "squeezenet": "b8a52dc0"}
    assert pretrained.torch_hub_checkpoint_dir().parts[-3:] == ("torch", "hub", "checkpoints") or \
        pretrained.torch_hub_checkpoint_dir().parts[-2:] == ("hub", "checkpoints")
