"""features_svm.py --model squeezenet: taps by name on the any-size network, its default descriptor
(fire9_concat averaged over space), and ImageNet features that learn digits where random ones do not."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import features_svm  # noqa: E402
import models  # noqa: E402
from tests.features_svm_data import write_digits_lists  # noqa: E402
from utilities.features_svm import experiment  # noqa: E402
from utilities.features_svm.layers import resolve_tap, tap_model  # noqa: E402


@pytest.fixture(scope="module")
def squeezenet_random():
    import keras

    keras.utils.set_random_seed(0)
    return models.build_model("squeezenet", "random", input_size=None)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """100 training and 200 test digits (32x32 grayscale PNGs) with their lists."""
    return write_digits_lists(tmp_path_factory.mktemp("digits_sq"), train=100, test=200, size=32)


def test_cli_models_and_per_model_defaults():
    # issue 23: every network the project builds (VGG19 included), and the raw-pixel baseline
    assert features_svm.MODELS == experiment.MODELS == (*models.ALL_MODEL_NAMES, "pixels")
    assert {"alexnet", "vgg16", "vgg19", "squeezenet"} <= set(features_svm.MODELS)
    args = features_svm.build_parser().parse_args(["--model", "squeezenet"])
    assert args.layer is None and args.pooling is None   # resolved per model by the package
    squeeze = experiment.with_model_defaults(experiment.Config(model="squeezenet"))
    assert (tuple(squeeze.layers), squeeze.pooling) == (("fire9_concat",), "avg")
    vgg = experiment.with_model_defaults(experiment.Config())
    assert (tuple(vgg.layers), vgg.pooling) == (("relu7",), "flatten")
    given = experiment.with_model_defaults(experiment.Config(model="squeezenet", layers=["pool10"], pooling="max"))
    assert (tuple(given.layers), given.pooling) == (("pool10",), "max")
    assert experiment.build_options("squeezenet") == {"input_size": None} and experiment.build_options("vgg16") == {}


def test_taps_by_name_read_the_networks_own_graph_at_any_size(squeezenet_random):
    import keras

    model = squeezenet_random
    x = np.random.default_rng(0).uniform(-100, 100, (2, 67, 67, 3)).astype(np.float32)
    for name, channels in (("fire9_concat", 512), ("conv1", 64), ("pool10", 1000), ("pool5", 256)):
        tap = resolve_tap(model, name)
        assert tap.layer == name
        features = tap_model(model, tap, 67)
        assert features.inputs[0] is model.inputs[0]           # the same graph, no copied layers
        expected = keras.Model(model.input, model.get_layer(name).output)(x)
        ours = features([x])
        np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
        assert ours.shape[-1] == channels
    with pytest.raises(ValueError, match=r"'relu7': no such layer in squeezenet; use a layer name \(conv1, "):
        resolve_tap(model, "relu7")


def test_squeezenet_run_with_defaults_reports_fire9_averaged(tmp_path):
    train, test = write_digits_lists(tmp_path / "digits", train=60, test=30, size=32)
    code = features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "squeezenet",
                              "--weights", "random", "--image-size", "48", "--output-dir", str(tmp_path),
                              "--no-progress"])
    assert code == 0
    report = (tmp_path / "report.txt").read_text()
    assert "squeezenet weights random" in report and "pooling avg" in report and "input 48px" in report
    assert (tmp_path / "confusion_fire9_concat.png").is_file()


def test_real_squeezenet_features_learn_digits_and_random_ones_do_not(squeezenet_h5, digits, tmp_path):
    """Measured (100 training / 200 test digits at 113 px, fire9_concat averaged, LinearSVC C=1): real
    weights 79% (pool10, the 1000 class scores: 62%), seeded random weights 14.5%; chance 10%."""
    train, test = digits
    accuracy = {}
    for weights in (str(squeezenet_h5), "random"):
        result = experiment.run(experiment.Config(train_list=train, test_list=test, model="squeezenet",
                                                  weights=weights, image_size=113, output_dir=tmp_path / weights[-6:],
                                                  cache=False, progress=False))
        (row,) = result.rows
        assert (row.layer, row.dim) == ("fire9_concat", 512)
        accuracy[weights == "random"] = row.test_accuracy
    assert accuracy[False] >= 0.6, accuracy
    assert accuracy[True] <= 0.35, accuracy
    assert not list(Path(tmp_path).rglob("cache"))
