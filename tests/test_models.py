"""AlexNet and VGG16: architecture, every weight format, remove-fc surgery, trainable sets."""
from __future__ import annotations

import numpy as np
import pytest

import models
from models.weight_formats import VGG_CAFFE_TO_KERAS, read_weight_file
from tests.reference_alexnet import alexnet_logits
from tests.synthetic_weights import alexnet_arrays, write_frossard_npz, write_legacy_keras_h5, write_pickled_npy

# Float32 sums over up to 37,748 products per fc6 unit in a different order (oneDNN vs the
# reference): agreement to 1e-4 of the logits' spread is what exact-in-math looks like.
REL_TOL = 1e-4


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    scale = float(np.abs(expected).max())
    assert scale > 1e-3, "degenerate logits would make the comparison meaningless"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=REL_TOL * scale)


@pytest.mark.parametrize("order", ["bvlc", "assignment"])
def test_alexnet_matches_tf1_style_reference(alexnet_npy, order):
    x = models.get_spec("alexnet").preprocess(_images(2, 227))
    model = models.build_model("alexnet", weights=alexnet_npy, lrn_order=order)
    expected = alexnet_logits(x, alexnet_arrays(seed=0), order=order)
    _close(model(x, training=False).numpy(), expected)


def test_lrn_orders_differ(alexnet_npy):
    x = models.get_spec("alexnet").preprocess(_images(1, 227, seed=3))
    a = alexnet_logits(x, alexnet_arrays(seed=0), order="bvlc")
    b = alexnet_logits(x, alexnet_arrays(seed=0), order="assignment")
    assert not np.allclose(a, b, atol=REL_TOL * np.abs(a).max())


def test_grouped_conv_implementations_agree(alexnet_npy):
    x = models.get_spec("alexnet").preprocess(_images(1, 227, seed=1))
    split = models.build_model("alexnet", weights=alexnet_npy, grouped_conv="split")
    native = models.build_model("alexnet", weights=alexnet_npy, grouped_conv="native")
    _close(native(x).numpy(), split(x).numpy())


def test_alexnet_parameter_count():
    # The grouped convolutions hold half the weights of full ones: 60,965,224, not the
    # 62,378,344 usually quoted for an ungrouped AlexNet.
    assert models.build_model("alexnet", weights="random").count_params() == 60_965_224


def test_bytes_keys_load(tmp_path):
    arrays = alexnet_arrays(seed=0)
    path = write_pickled_npy(tmp_path / "bytes.npy", arrays, bytes_keys=True)
    loaded = read_weight_file(path)
    assert set(loaded) == set(arrays)
    np.testing.assert_array_equal(loaded["conv2"][0], arrays["conv2"][0])


def test_wrong_shape_names_the_layer(tmp_path):
    arrays = alexnet_arrays(seed=0)
    arrays["conv3"][0] = np.zeros((3, 3, 256, 300), np.float32)
    path = write_pickled_npy(tmp_path / "bad.npy", arrays)
    with pytest.raises(models.WeightsError, match=r"conv3.*\(3, 3, 256, 300\).*\(3, 3, 256, 384\)"):
        models.build_model("alexnet", weights=path)


def test_missing_layer_is_an_error(tmp_path):
    arrays = alexnet_arrays(seed=0)
    del arrays["fc7"]
    path = write_pickled_npy(tmp_path / "partial.npy", arrays)
    with pytest.raises(models.WeightsError, match="'fc7' has no weights"):
        models.build_model("alexnet", weights=path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(models.WeightsError, match="does not exist"):
        models.build_model("alexnet", weights=tmp_path / "nope.npy")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(models.WeightsError, match="unknown weights format"):
        models.build_model("alexnet", weights=tmp_path / "w.txt")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(models.WeightsError, match="junk.npy"):
        models.build_model("alexnet", weights=tmp_path / "junk.npy")


@pytest.mark.parametrize("remove_fc, head_input, trainable", [
    (1, "fc7_dropout", ["classifier", "fc7"]),
    (2, "fc6_dropout", ["classifier", "fc6"]),
])
def test_alexnet_remove_fc(alexnet_npy, remove_fc, head_input, trainable):
    model = models.build_model("alexnet", weights=alexnet_npy, remove_fc=remove_fc, num_classes=10)
    names = [layer.name for layer in model.layers]
    assert "fc8" not in names and names[-1] == "classifier"
    assert ("fc7" in names) == (remove_fc == 1)
    assert model.get_layer("classifier").input.name.startswith(head_input) or \
        model.layers[-2].name == head_input
    assert model.output_shape == (None, 10)
    # Kept layers carry the file's weights; the head is fresh.
    np.testing.assert_array_equal(model.get_layer("fc6").get_weights()[0], alexnet_arrays(0)["fc6"][0])
    assert models.default_train_layers("alexnet", remove_fc) == trainable
    models.set_trainable(model, trainable)
    assert sorted(models.trainable_layer_names(model)) == sorted(trainable)
    assert len(model.trainable_weights) == 4
    assert all(not layer.trainable for layer in model.layers if layer.name.startswith("conv"))


def test_set_trainable_rejects_unknown(alexnet_npy):
    model = models.build_model("alexnet", weights="random", remove_fc=1, num_classes=3)
    with pytest.raises(ValueError, match="fc8.*--train-layers"):
        models.set_trainable(model, ["fc8"])


def test_remove_fc_needs_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        models.build_model("vgg16", weights="random", remove_fc=1)


def test_vgg16_remove_fc_layers():
    model = models.build_model("vgg16", weights="random", remove_fc=2, num_classes=5)
    names = [layer.name for layer in model.layers if layer.weights]
    assert names[-3:] == ["block5_conv3", "fc1", "classifier"]
    assert models.default_train_layers("vgg16", 1) == ["classifier", "fc2"]


def test_preprocessing_matches_keras_applications():
    import keras

    x = _images(2, 8)
    np.testing.assert_allclose(models.get_spec("vgg16").preprocess(x),
                               keras.applications.vgg16.preprocess_input(x.copy()), atol=1e-4)
    bgr = x[..., ::-1] - np.array([104, 117, 124], np.float32)
    np.testing.assert_allclose(models.get_spec("alexnet").preprocess(x), bgr)


@pytest.mark.slow
def test_vgg16_all_formats_equal_keras_applications(tmp_path, vgg16_caffe_weights):
    """npy (machrisaa), npz (Frossard), legacy h5 and .weights.h5 give keras.applications' logits."""
    import keras

    caffe = vgg16_caffe_weights
    keras_named = {VGG_CAFFE_TO_KERAS[k]: v for k, v in caffe.items()}
    reference = keras.applications.VGG16(weights=None, classifier_activation=None)
    order = [layer.name for layer in reference.layers]
    h5 = write_legacy_keras_h5(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5", keras_named, order)
    reference = keras.applications.VGG16(weights=str(h5), classifier_activation=None)
    x = models.get_spec("vgg16").preprocess(_images(2, 224, seed=5))
    expected = reference(x).numpy()
    reference.save_weights(tmp_path / "saved.weights.h5")
    del reference

    sources = {
        "npy": write_pickled_npy(tmp_path / "vgg16.npy", caffe),
        "npz": write_frossard_npz(tmp_path / "vgg16_weights.npz", caffe),
        "h5": h5,
        "weights.h5": tmp_path / "saved.weights.h5",
    }
    for kind, path in sources.items():
        model = models.build_model("vgg16", weights=path)
        try:
            _close(model(x, training=False).numpy(), expected)
        except AssertionError as exc:
            raise AssertionError(f"{kind}: {exc}") from None
        del model


@pytest.mark.slow
def test_saved_finetuned_model_roundtrip(tmp_path, alexnet_npy):
    model = models.build_model("alexnet", weights=alexnet_npy, remove_fc=2, num_classes=4)
    model.save(tmp_path / "tuned.keras")
    model.save_weights(tmp_path / "tuned.weights.h5")
    x = models.get_spec("alexnet").preprocess(_images(1, 227, seed=2))
    expected = model(x).numpy()
    for path in ("tuned.keras", "tuned.weights.h5"):
        again = models.build_model("alexnet", weights=tmp_path / path, remove_fc=2, num_classes=4)
        np.testing.assert_allclose(again(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_malicious_pickle_is_refused(tmp_path):
    """A .npy whose pickle would run a command is rejected before anything runs."""
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump({"conv1": Exploit()}, f, protocol=2)
    with pytest.raises(models.WeightsError, match="refusing to load"):
        models.build_model("alexnet", weights=path)
    assert not marker.exists()


def test_python2_style_npy(tmp_path):
    """np.load-compatible files with protocol 2 pickles and list values load unchanged."""
    arrays = alexnet_arrays(seed=0)
    path = tmp_path / "p2.npy"
    with open(path, "wb") as f:
        np.save(f, np.array({k: [v[0], v[1]] for k, v in arrays.items()}, dtype=object), allow_pickle=True)
    assert set(read_weight_file(path)) == set(arrays)


@pytest.mark.parametrize("name", ["alexnet", "vgg16"])
def test_preprocess_tensor_equals_numpy(name):
    import tensorflow as tf

    x = _images(2, 6, seed=9)
    spec = models.get_spec(name)
    np.testing.assert_allclose(spec.preprocess(tf.constant(x)).numpy(), spec.preprocess(x), atol=1e-5)
    np.testing.assert_allclose(spec.preprocess(tf.constant(x.astype(np.uint8))).numpy(),
                               spec.preprocess(x.astype(np.uint8).astype(np.float32)), atol=1e-5)
