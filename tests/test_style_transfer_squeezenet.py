"""style_transfer.py --model squeezenet: fire-module taps at any size, the handout's preset, and real painting.

Offline: the multi-output extractor over SqueezeNet (a branching graph, not VGG's chain) against an
independent NumPy forward pass of a synthetic h5 in the real file's layout, at a size that is not
227; the preset (layers, converted weights, sizes) and how user flags override it; the CLI end to end.

Real weights (the `squeezenet_h5` fixture; skips only when no source can be reached): the preset's
FEATURE_SCALE re-measured, and chelsea painted in the manner of The Scream (my_images/style/scream.jpg)
lowers the real network's style loss by a large factor while its fire9 features stay close to the
photo's; the same run on random weights does neither (so the test can fail).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import style_transfer
from tests.real_weights import (
    _conv,
    _max_pool,
    read_squeezenet_h5,
    synthetic_squeezenet_arrays,
    write_squeezenet_h5,
)

tf = pytest.importorskip("tensorflow")

import models  # noqa: E402
from models import squeezenet  # noqa: E402
from utilities.style_transfer import (  # noqa: E402
    LayerChoiceError,
    StyleObjective,
    TransferSettings,
    feature_network,
    preset_for,
    stylise,
)
from utilities.style_transfer.features import feature_network_from_model  # noqa: E402
from utilities.style_transfer.images import load_picture  # noqa: E402
from utilities.style_transfer.presets import (  # noqa: E402
    FEATURE_SCALE,
    PIXEL_STD,
    PRESETS,
    STYLE_CALIBRATION,
    resolve,
)

ROOT = Path(__file__).resolve().parents[1]
SCREAM = ROOT / "my_images" / "style" / "scream.jpg"
CHELSEA = ROOT / "my_images" / "chelsea.jpg"
PRESET = preset_for("squeezenet")


def numpy_maps(weights: dict, rgb_255: np.ndarray) -> dict[str, np.ndarray]:
    """conv1 and every fireN_concat map of one RGB 0..255 picture, NumPy alone, by the file's names."""
    x = np.asarray(rgb_255, np.float64)[..., ::-1] - squeezenet.MEAN_BGR.astype(np.float64)
    maps = {"conv1": _conv(x, *weights["conv1"], stride=2)}
    x = _max_pool(maps["conv1"])
    for module, _, _ in squeezenet.FIRE_MODULES:
        s = _conv(x, *weights[f"fire{module}/squeeze1x1"])
        x = np.concatenate([_conv(s, *weights[f"fire{module}/expand1x1"]),
                            _conv(s, *weights[f"fire{module}/expand3x3"], same=True)], axis=-1)
        maps[f"fire{module}_concat"] = x
        if module in (3, 5):
            x = _max_pool(x)
    return maps


@pytest.fixture(scope="module")
def synthetic_h5(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("squeezenet_style")
    return write_squeezenet_h5(folder / "squeezenet_synthetic.h5", synthetic_squeezenet_arrays(seed=5))


# ---------------------------------------------------------------- the extractor (offline)

def test_extractor_taps_fire_modules_at_any_size_like_numpy(synthetic_h5):
    network = feature_network("squeezenet", synthetic_h5, "fire2_concat", ["conv1", "fire3_concat", "fire9_concat"])
    assert network.layers == ("fire2_concat", "conv1", "fire3_concat", "fire9_concat")
    assert network.channels == {"fire2_concat": 128, "conv1": 64, "fire3_concat": 128, "fire9_concat": 512}
    picture = np.random.default_rng(0).uniform(0, 255, (45, 61, 3)).astype(np.float32)  # not 227, not square
    ours = network(picture[None])
    reference = numpy_maps(read_squeezenet_h5(synthetic_h5), picture)
    for name in network.layers:
        expected = reference[name][None]
        assert ours[name].shape == expected.shape, name
        np.testing.assert_allclose(ours[name].numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_extractor_shares_the_network_variables_and_stops_at_the_deepest_tap():
    model = models.build_model("squeezenet", "random", input_size=None)
    network = feature_network_from_model(model, squeezenet.preprocess_input, "fire2_concat", ["conv1"])
    layer_names = {layer.name for layer in network.extractor.layers}
    assert "fire3_squeeze1x1" not in layer_names and "conv10" not in layer_names
    model_variables = {id(v) for v in model.weights}
    assert network.extractor.weights and all(id(v) in model_variables for v in network.extractor.weights)


def test_unknown_squeezenet_layer_is_named_with_the_choices():
    model = models.build_model("squeezenet", "random", input_size=None)
    with pytest.raises(LayerChoiceError, match=r"block4_conv2 not in squeezenet.*fire2_concat"):
        feature_network_from_model(model, squeezenet.preprocess_input, "block4_conv2", ["conv1"])


def test_bfloat16_squeezenet_features_close_to_float32(synthetic_h5):
    picture = np.random.default_rng(1).uniform(0, 255, (1, 48, 40, 3)).astype(np.float32)
    full = feature_network("squeezenet", synthetic_h5, "fire2_concat", ["conv1", "fire5_concat"])(picture)
    half = feature_network("squeezenet", synthetic_h5, "fire2_concat", ["conv1", "fire5_concat"],
                           precision="bfloat16")(picture)
    for name, value in full.items():
        assert half[name].dtype == tf.float32
        scale = float(tf.reduce_max(tf.abs(value)))
        assert float(tf.reduce_max(tf.abs(half[name] - value))) < 0.05 * scale, name


# ---------------------------------------------------------------- the preset (offline)

def test_preset_is_the_handouts_choice_converted_to_caffe_pixels():
    assert [squeezenet.TORCHVISION_FEATURES[i] for i in (3,)] == [PRESET.content_layer]
    assert tuple(squeezenet.TORCHVISION_FEATURES[i] for i in (1, 4, 6, 7)) == PRESET.style_layers
    assert (PRESET.image_size, PRESET.style_size) == (192, 512)
    np.testing.assert_allclose(PRESET.content_weight, 5e-2 / FEATURE_SCALE["fire2_concat"] ** 2, rtol=5e-3)
    expected = [STYLE_CALIBRATION * w / FEATURE_SCALE[n] ** 4 for w, n in zip((20000, 500, 12, 1), PRESET.style_layers,
                                                                           strict=True)]
    np.testing.assert_allclose(PRESET.style_weights, expected, rtol=5e-3)
    np.testing.assert_allclose(PRESET.tv_weight, 5e-2 / PIXEL_STD ** 2, rtol=5e-3)
    assert 57 < PIXEL_STD < 58


def test_resolve_fills_only_what_the_user_left_out():
    settings, filled = resolve(TransferSettings(model="squeezenet"))
    assert (settings.content_layer, settings.style_layers) == (PRESET.content_layer, PRESET.style_layers)
    assert (settings.content_weight, settings.style_weights, settings.tv_weight) == (
        PRESET.content_weight, PRESET.style_weights, PRESET.tv_weight)
    assert (settings.image_size, settings.style_size) == (192, 512)
    assert set(filled) == {"content_layer", "style_layers", "content_weight", "style_weights", "tv_weight",
                           "image_size", "style_size"}
    # other style layers: the preset's per-layer weights do not apply (neural-style's defaults later)
    own, filled = resolve(TransferSettings(model="squeezenet", style_layers=("fire6_concat",), tv_weight=0.0,
                                           image_size=64))
    assert own.style_weights is None and own.tv_weight == 0.0
    assert own.content_weight == pytest.approx(PRESET.content_weight * (192 / 64) ** 2, rel=5e-3)
    assert own.image_size == 64 and "style_weights" not in filled and "tv_weight" not in filled
    # content and TV are sums over the picture: at twice the size a quarter of the weight
    double, _ = resolve(TransferSettings(model="squeezenet", image_size=384))
    assert double.content_weight == pytest.approx(PRESET.content_weight / 4, rel=5e-3)
    assert double.tv_weight == pytest.approx(PRESET.tv_weight / 4, rel=5e-3)
    assert double.style_weights == PRESET.style_weights
    # VGG: neural-style's layers, weights left to reference_weights, the style scaled like the content
    vgg, _ = resolve(TransferSettings())
    assert (vgg.content_layer, vgg.image_size, vgg.style_size, vgg.content_weight, vgg.style_weights,
            vgg.tv_weight) == ("block4_conv2", 512, None, None, None, None)


def test_cli_defaults_match_the_presets():
    assert set(style_transfer.DEFAULTS) == set(PRESETS) == set(style_transfer.MODELS)
    for model, (content, style, size) in style_transfer.DEFAULTS.items():
        preset = PRESETS[model]
        assert (content, style_transfer.names(style), size) == (preset.content_layer, preset.style_layers,
                                                                preset.image_size)


def test_cli_squeezenet_uses_and_records_the_preset(tmp_path, capsys):
    import cv2
    import skimage.data

    content, style = tmp_path / "cat.png", tmp_path / "coffee.png"
    cv2.imwrite(str(content), skimage.data.chelsea()[..., ::-1])
    cv2.imwrite(str(style), skimage.data.coffee()[..., ::-1])
    out = tmp_path / "out.png"
    assert style_transfer.main([str(content), str(style), "--model", "squeezenet", "--weights", "random",
                                "-o", str(out), "--image-size", "48", "--style-size", "64", "--iterations", "2",
                                "--save-every", "0", "--no-progress"]) == 0
    run = json.loads((tmp_path / "out_run.json").read_text())
    assert run["settings"]["content_layer"] == "fire2_concat" and run["image_shape"] == [32, 48, 3]
    assert run["settings"]["style_weights"] == list(PRESET.style_weights) and run["settings"]["style_size"] == 64
    assert set(run["preset"]["filled"]) == {"content_layer", "style_layers", "content_weight", "style_weights",
                                            "tv_weight"}
    assert "(1, 4, 6, 7)" in run["preset"]["source"]
    assert "preset (squeezenet): content_weight, style_weights, tv_weight" in capsys.readouterr().out
    # a VGG layer on squeezenet: one line, exit 2
    assert style_transfer.main([str(content), str(style), "--model", "squeezenet", "--weights", "random",
                                "--content-layer", "block4_conv2"]) == 2
    assert "choose among conv1, fire2_concat" in capsys.readouterr().err


# ---------------------------------------------------------------- real weights

def test_feature_scale_is_the_measured_one(squeezenet_h5):
    """Our maps vs the maps of picture / PIXEL_STD: the ratio the preset's weights were converted with."""
    model = models.build_model("squeezenet", squeezenet_h5, input_size=None)
    network = feature_network_from_model(model, squeezenet.preprocess_input, "fire2_concat", list(FEATURE_SCALE))
    x = squeezenet.preprocess_input(load_picture(CHELSEA, 192)[None])
    caffe, scaled = network.extractor(x), network.extractor(x / PIXEL_STD)
    for name, a, b in zip(network.layers, caffe, scaled, strict=True):
        ratio = float(tf.norm(a) / tf.norm(b))
        assert ratio == pytest.approx(FEATURE_SCALE[name], rel=0.05), name


def _transfer_judged_by_the_real_network(model, real_model):
    """Chelsea x The Scream with the preset (160 px, style 256, 30 L-BFGS iterations); the real network's
    (style-loss factor, cosine of fire2 maps, cosine of fire9 maps) between result and photo."""
    content, style = load_picture(CHELSEA, 160), load_picture(SCREAM, 256)
    network = feature_network_from_model(model, squeezenet.preprocess_input, PRESET.content_layer,
                                         list(PRESET.style_layers))
    result = stylise(network, content, style, TransferSettings(model="squeezenet", iterations=30, progress=False))
    real = feature_network_from_model(real_model, squeezenet.preprocess_input, PRESET.content_layer,
                                      list(PRESET.style_layers))
    judge = StyleObjective(real, content, style, result.weights)
    factor = judge.evaluate(content).style / judge.evaluate(result.image).style
    import keras

    taps = keras.Model(real_model.input, [real_model.get_layer(n).output for n in ("fire2_concat", "fire9_concat")])
    ours, photo = (taps(squeezenet.preprocess_input(x[None])) for x in (result.image, content))
    cosines = [float(tf.reduce_sum(a * b) / (tf.norm(a) * tf.norm(b))) for a, b in zip(ours, photo, strict=True)]
    return factor, *cosines


def test_real_squeezenet_paints_chelsea_like_the_scream_and_random_weights_do_not(squeezenet_h5):
    """Measured: real weights style x9.8, cosines fire2 0.86, fire9 0.57; random weights x1.2, 0.56,
    0.08 (for scale: the Scream resized onto the photo gives 0.46 and 0.06, a grey picture 0.42 and 0.03)."""
    import keras

    real_model = models.build_model("squeezenet", squeezenet_h5, input_size=None)
    factor, fire2, fire9 = _transfer_judged_by_the_real_network(real_model, real_model)
    assert factor > 6.0, f"the real network's style loss fell only {factor:.2f}x"
    assert fire2 > 0.75 and fire9 > 0.35, f"content lost: cosines fire2 {fire2:.3f}, fire9 {fire9:.3f}"
    keras.utils.set_random_seed(0)
    random_model = models.build_model("squeezenet", "random", input_size=None)
    factor_r, fire2_r, fire9_r = _transfer_judged_by_the_real_network(random_model, real_model)
    assert factor_r < 3.0 and fire2_r < 0.75 and fire9_r < 0.35, (factor_r, fire2_r, fire9_r)
