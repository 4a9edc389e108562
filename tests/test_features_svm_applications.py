"""features_svm.py --model <keras.applications network> (issue 28): a named layer of MobileNetV2 read
end to end equals the layer's own output averaged over space, every listed network has a default
(its class-map layer, averaged), an unknown layer is one line listing the layers, and ImageNet
weights offline are one line with exit status 2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import features_svm  # noqa: E402
import models  # noqa: E402
from tests.features_svm_data import write_digits_lists  # noqa: E402
from utilities.features_svm import experiment  # noqa: E402

SIZE = 32        # MobileNetV2's smallest input (Keras' bound): cheap on two CPU cores


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """60 + 12 scikit-learn digits (real handwriting, 32x32 grayscale PNGs) with their lists."""
    return write_digits_lists(tmp_path_factory.mktemp("digits_apps"), train=60, test=12, size=SIZE)


@pytest.fixture
def built(monkeypatch):
    """models.build_model wrapped: the list receives every network the run builds."""
    real, networks = models.build_model, []

    def build(name, weights=None, **kwargs):
        networks.append((name, weights, kwargs, real(name, weights, **kwargs)))
        return networks[-1][-1]

    monkeypatch.setattr(models, "build_model", build)
    return networks


def test_cli_lists_every_keras_application_with_its_class_map_layer_averaged():
    assert features_svm.MODELS == experiment.MODELS == (*models.ALL_MODEL_NAMES, "pixels")
    for name in ("resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "inception_v3", "convnext_tiny"):
        assert name in models.KERAS_APPLICATION_NAMES and name in features_svm.MODELS
        config = experiment.with_model_defaults(experiment.Config(model=name))
        assert (tuple(config.layers), config.pooling) == ((models.get_spec(name, "random").gradcam_layer,), "avg")
        assert experiment.build_options(name) == {"input_size": None}     # any --image-size
    assert experiment.with_model_defaults(experiment.Config(model="mobilenet_v2")).layers == ("out_relu",)


def test_mobilenet_v2_out_relu_is_the_layers_output_averaged_over_space(digits, built, tmp_path):
    import keras

    from utilities.wikiart.dataset import read_image_list
    from utilities.wikiart.decode import decode_rgb, resize_uint8

    train, test = digits
    cache = tmp_path / "cache"
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "mobilenet_v2",
                              "--weights", "random", "--layer", "out_relu", "--image-size", str(SIZE),
                              "--output-dir", str(tmp_path / "out"), "--cache-dir", str(cache), "--no-progress"])
    assert code == 0
    ((name, weights, kwargs, model),) = built
    assert (name, weights, kwargs) == ("mobilenet_v2", "random", {"input_size": None})
    report = (tmp_path / "out" / "report.txt").read_text()
    assert "mobilenet_v2 weights random" in report and "input 32px, pooling avg" in report
    (entry,) = cache.glob("*_mobilenet_v2_out_relu_test-*.npz")
    with np.load(entry) as saved:
        got = saved["features"]
    # The reference: the network's own preprocessing (tf: -1..1) and keras.Model(input, layer.output).
    paths = read_image_list(test).paths
    preprocess = models.get_spec("mobilenet_v2", "random").preprocess
    x = np.stack([preprocess(resize_uint8(decode_rgb(Path(p).read_bytes()), SIZE).numpy().astype(np.float32))
                  for p in paths])
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.5          # tf preprocessing, not caffe
    maps = np.asarray(keras.Model(model.input, model.get_layer("out_relu").output)(x))
    assert maps.ndim == 4 and maps.shape[-1] == 1280
    want = maps.mean(axis=(1, 2))
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert got.shape == (len(paths), 1280)
    np.testing.assert_allclose(got, want, atol=1e-4)   # an untrained MobileNetV2's rows are ~1e-10 before


def test_unknown_layer_is_one_line_listing_the_layers(digits, tmp_path, capsys):
    train, test = digits
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "mobilenet_v2",
                              "--weights", "random", "--layer", "relu7", "--image-size", str(SIZE),
                              "--output-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("error: --layer 'relu7': no such layer in mobilenetv2")
    assert "block_16_project" in err and "out_relu" in err and "-1..-0" not in err


def test_too_small_an_input_is_one_line(digits, tmp_path, capsys):
    train, test = digits
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "inception_v3",
                              "--weights", "random", "--image-size", "64", "--output-dir", str(tmp_path),
                              "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "error: --image-size 64: inception_v3 needs at least 75 px; use --image-size 75 or more"


def test_imagenet_offline_is_one_line_and_exit_2(digits, monkeypatch, tmp_path, capsys):
    """Keras' download fails (as offline): the one-line message naming the URL and where to save it."""
    import keras

    from models.keras_application_table import APPLICATIONS

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))

    def offline(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    train, test = digits
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "mobilenet_v2",
                              "--output-dir", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("error: MobileNetV2 ImageNet weights unavailable (")
    assert APPLICATIONS["mobilenet_v2"].weights_url in err
    assert str(tmp_path / "home" / "models" / APPLICATIONS["mobilenet_v2"].weights_file) in err


@pytest.fixture(scope="module")
def small_keras_file(tmp_path_factory):
    """A small CNN saved whole by model.save (seeded random weights): 32x32 RGB in, 10 logits out."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv_a")(image)
    x = keras.layers.MaxPooling2D(name="pool_a")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(image, keras.layers.Dense(10, name="head")(x), name="small_cnn")
    path = tmp_path_factory.mktemp("keras_file") / "small cnn.keras"
    model.save(path)
    return path, model


def test_a_keras_file_default_layer_is_its_last_maps_averaged(digits, small_keras_file, tmp_path):
    """--model FILE.keras --preprocess unit: the last 4-D layer (conv_b), averaged, equals the saved
    model's own conv_b output on the images scaled to 0..1."""
    import keras

    from utilities.wikiart.dataset import read_image_list
    from utilities.wikiart.decode import decode_rgb, resize_uint8

    train, test = digits
    path, model = small_keras_file
    cache = tmp_path / "cache"
    first = read_image_list(train).paths[0]
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", str(path),
                              "--preprocess", "unit", "--output-dir", str(tmp_path / "out"), "--cache-dir",
                              str(cache), "--summary", "--activation-maps", str(first), "--no-progress"])
    assert code == 0
    report = (tmp_path / "out" / "report.txt").read_text()
    assert "small_cnn: parameters per layer" in report
    assert (tmp_path / "out" / f"conv_a_{Path(first).stem}.png").is_file()
    assert f"{path}: descriptor layer conv_b (the last layer with a 4-D" in report
    assert "preprocessing: unit" in report and "input 32px, pooling avg" in report
    (entry,) = cache.glob("*_small_cnn_conv_b_test-*.npz")
    with np.load(entry) as saved:
        got = saved["features"]
    x = np.stack([resize_uint8(decode_rgb(Path(p).read_bytes()), SIZE).numpy().astype(np.float32) / 255
                  for p in read_image_list(test).paths])
    want = np.asarray(keras.Model(model.input, model.get_layer("conv_b").output)(x)).mean(axis=(1, 2))
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert got.shape == (len(x), 16)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_keras_file_refusals_are_one_line(digits, small_keras_file, tmp_path, capsys):
    train, test = digits
    path, _ = small_keras_file
    common = ["--train-list", str(train), "--test-list", str(test), "--output-dir", str(tmp_path), "--no-progress"]
    cases = {("--model", str(path)): "--preprocess",                                # the model cannot tell
             ("--model", str(path), "--preprocess", "unit", "--weights", "random"): "holds its own weights",
             ("--model", str(tmp_path / "missing.keras")): "no such .keras model file",
             ("--model", "resnet50", "--preprocess", "tf"): "for a .keras --model only",
             ("--model", str(path), "--preprocess", "unit", "--layer", "nope"): "no such layer in small_cnn"}
    for flags, expected in cases.items():
        code = features_svm.main([*common, *flags])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err and expected in err and "Traceback" not in err, (flags, err)
