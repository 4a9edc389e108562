"""Grad-CAM against the formula computed by hand (numpy), on flat and nested tiny models."""
import keras
import numpy as np
import pytest

from utilities.explain._graph import LayerNotFoundError, last_spatial_layer, tap_model
from utilities.explain.base import normalise_maps, resize_maps
from utilities.explain.gradcam import GradCAM

SIZE, CHANNELS, HIDDEN, CLASSES = 8, 4, 6, 5


def conv_base(name="base"):
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(CHANNELS, 3, activation="relu", name="features")(x)
    return keras.Model(inputs, x, name=name)


def head_layers():
    return [keras.layers.Flatten(name="flat"),
            keras.layers.Dense(HIDDEN, activation="tanh", name="hidden"),
            keras.layers.Dense(CLASSES, name="logits")]


def flat_model():
    keras.utils.set_random_seed(2)
    base, head = conv_base(), head_layers()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = base.get_layer("features")(base.get_layer("conv_a")(inputs))
    for layer in head:
        x = layer(x)
    return keras.Model(inputs, x, name="flat"), base, head


def grad_cam_by_hand(activations, head, class_index):
    """Independent of tapes: the head is Flatten -> tanh Dense -> Dense, so dy_c/dA is analytic."""
    (w1, b1), (w2, _) = head[1].get_weights(), head[2].get_weights()
    hidden = np.tanh(activations.reshape(-1) @ w1 + b1)
    gradient = (w1 @ ((1 - hidden ** 2) * w2[:, class_index])).reshape(activations.shape)
    alpha = gradient.mean(axis=(0, 1))                         # (channels,)
    return np.maximum((activations * alpha).sum(axis=-1), 0)   # ReLU(sum_k alpha_k A^k)


@pytest.fixture(scope="module")
def models():
    return flat_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)


def check_against_hand_formula(model, layer, base, head, images, classes):
    result = GradCAM(model, layer).explain(images, classes)
    activations = keras.Model(base.input, base.get_layer("features").output).predict(images, verbose=0)
    assert result.maps.shape == (len(images), classes.shape[1]) + activations.shape[1:3]
    for n in range(len(images)):
        for k in range(classes.shape[1]):
            expected = grad_cam_by_hand(activations[n], head, result.classes[n, k])
            np.testing.assert_allclose(result.maps[n, k], expected, rtol=1e-4, atol=1e-6)
    assert result.maps.max() > 0  # a non-trivial check, not all zeros on both sides
    return result


def test_grad_cam_equals_the_formula_by_hand(models, images):
    model, base, head = models
    classes = np.array([[0, 1, 2], [3, 4, 0], [1, 1, 1], [4, 2, 0]])
    check_against_hand_formula(model, "features", base, head, images, classes)


def test_top_k_is_ranked_from_the_same_forward_pass(models, images):
    model, base, head = models
    result = check_against_hand_formula(model, "features", base, head, images, np.full((4, 3), -1))
    np.testing.assert_array_equal(result.classes, np.argsort(-model.predict(images, verbose=0))[:, :3])


def test_nested_functional_and_sequential_models(models, images):
    """A pretrained base used as one layer: the case where tf-keras-vis fails on Keras 3."""
    model, base, head = models
    inputs = keras.Input((SIZE, SIZE, 3))
    x = base(inputs)
    for layer in head:
        x = layer(x)
    wrapped = keras.Model(inputs, x, name="wrapped")
    sequential = keras.Sequential([keras.Input((SIZE, SIZE, 3)), base] + head, name="seq")
    classes = np.array([[2, 0]] * 4)
    for nested, layer in [(wrapped, "features"), (sequential, "base/features")]:
        before = nested.to_json()
        check_against_hand_formula(nested, layer, base, head, images, classes)
        assert nested.to_json() == before


def test_doubly_nested_model(models, images):
    model, base, head = models
    inputs = keras.Input((SIZE, SIZE, 3))
    middle = keras.Model(inputs, keras.layers.Identity(name="pass")(base(inputs)), name="middle")
    outer = keras.Sequential([keras.Input((SIZE, SIZE, 3)), middle] + head, name="outer")
    assert last_spatial_layer(outer) == "middle/pass"
    check_against_hand_formula(outer, "middle/base/features", base, head, images, np.array([[1]] * 4))


def test_tapped_model_matches_model_output(models, images):
    model, _, _ = models
    activations, logits = tap_model(model, "features")(images)
    np.testing.assert_allclose(logits, model(images), rtol=1e-6)
    assert activations.shape == (4, SIZE - 2, SIZE - 2, CHANNELS)


def test_missing_layer_message_lists_conv_layers(models):
    model, _, _ = models
    with pytest.raises(LayerNotFoundError, match="'nope' not found.*features"):
        GradCAM(model, "nope")
    with pytest.raises(ValueError, match="4-D"):
        GradCAM(model, "hidden")


def test_all_zero_cam_normalises_without_nan(models, images):
    model, _, _ = models
    dead = keras.Model(model.input, model.output)  # same layers; zero input -> zero features
    cams = GradCAM(dead, "features").explain(np.zeros_like(images), top_k=2).maps
    assert cams.max() == 0.0
    shown = normalise_maps(resize_maps(cams, (SIZE, SIZE)))
    assert shown.shape == (4, 2, SIZE, SIZE) and np.isfinite(shown).all() and shown.max() == 0.0


def test_resize_is_bilinear_and_keeps_constant_maps():
    maps = np.full((2, 3, 3), 0.5, dtype=np.float32)
    np.testing.assert_allclose(resize_maps(maps, (7, 5)), 0.5, rtol=1e-6)
    ramp = np.tile(np.arange(4, dtype=np.float32), (4, 1))
    assert np.all(np.diff(resize_maps(ramp, (8, 8))[3]) >= 0)


def test_mixed_bfloat16_model_gives_float32_maps_close_to_fp32(models, images):
    """bf16 compute (fp32 weights): logits and maps come back float32 and agree with fp32."""
    model, _, _ = models
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for layer in model.layers[1:]:
        x = layer.__class__.from_config({**layer.get_config(), "dtype": "mixed_bfloat16"})(x)
    mixed = keras.Model(inputs, x)
    mixed.set_weights(model.get_weights())
    exact = GradCAM(model, "features").explain(images, [[0]] * 4)
    approx = GradCAM(mixed, "features").explain(images, [[0]] * 4)
    assert approx.maps.dtype == np.float32 and approx.logits.dtype == np.float32
    r = np.corrcoef(exact.maps.ravel(), approx.maps.ravel())[0, 1]
    assert r > 0.98, r
