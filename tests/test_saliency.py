"""Vanilla gradient saliency against finite differences, on flat and nested tiny models."""
import keras
import numpy as np
import pytest

from utilities.explain.base import normalise_maps
from utilities.explain.saliency import VanillaGradient


def tiny_base(name="base"):
    """Smooth activations (tanh/softplus) so central differences are accurate; float64 maths."""
    inputs = keras.Input((6, 6, 3), dtype="float64")
    x = keras.layers.Conv2D(4, 3, activation="tanh", dtype="float64", name="conv_a")(inputs)
    x = keras.layers.Conv2D(3, 3, activation="softplus", dtype="float64", name="conv_b")(x)
    x = keras.layers.Flatten(dtype="float64")(x)
    return keras.Model(inputs, x, name=name)


def tiny_model():
    keras.utils.set_random_seed(1)
    base = tiny_base()
    inputs = keras.Input((6, 6, 3), dtype="float64")
    return keras.Model(inputs, keras.layers.Dense(5, dtype="float64", name="logits")(base(inputs)))


def finite_difference_gradient(model, image, class_index, step=1e-4):
    """d logit / d pixel by central differences, all pixels in one batch (independent of tapes)."""
    image = image.astype(np.float64)
    n = image.size
    offsets = np.eye(n).reshape((n,) + image.shape) * step
    batch = np.concatenate([image + offsets, image - offsets])
    logits = model(batch).numpy()[:, class_index]  # not predict(): it casts data to float32
    return ((logits[:n] - logits[n:]) / (2 * step)).reshape(image.shape)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(-1, 1, (3, 6, 6, 3)).astype(np.float32)


@pytest.mark.parametrize("reduction, reduce", [("max", np.max), ("sum", np.sum)])
def test_vanilla_gradient_equals_finite_differences(model, images, reduction, reduce):
    classes = np.array([[0, 3], [4, 1], [2, 2]])
    result = VanillaGradient(model, reduction=reduction).explain(images, classes)
    assert result.maps.shape == (3, 2, 6, 6)
    for n in range(3):
        for k in range(2):
            expected = reduce(np.abs(finite_difference_gradient(model, images[n], classes[n, k])), axis=-1)
            np.testing.assert_allclose(result.maps[n, k], expected, rtol=1e-4, atol=1e-6)
    assert (result.maps >= 0).all()


def test_top_k_explains_the_ranked_classes(model, images):
    result = VanillaGradient(model).explain(images, top_k=3)
    logits = model(images.astype(np.float64)).numpy()
    np.testing.assert_array_equal(result.classes, np.argsort(-logits, axis=1)[:, :3])
    np.testing.assert_allclose(result.logits, logits, rtol=1e-5, atol=1e-6)
    expected = np.abs(finite_difference_gradient(model, images[1], result.classes[1, 2])).max(-1)
    np.testing.assert_allclose(result.maps[1, 2], expected, rtol=1e-4, atol=1e-6)


def test_batching_and_get_mask_agree(model, images):
    classes = np.array([1, 0, 4])
    whole = VanillaGradient(model, batch_size=8).explain(images, classes).maps[:, 0]
    chunked = VanillaGradient(model, batch_size=2).explain(images, classes).maps[:, 0]
    single = VanillaGradient(model).get_mask(images[2], class_index=4)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)
    np.testing.assert_allclose(single, whole[2], rtol=1e-6)


def test_gradient_is_taken_through_preprocessing(model, images):
    """The assignment's x is RGB in [0, 1]; the model sees x*255 - mean: d/dx = 255 d/dinput."""
    mean = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    unit = (images + 1) / 2
    to_model = lambda x: x * 255.0 - mean  # noqa: E731
    wrt_unit = VanillaGradient(model, preprocess=to_model).explain(unit, [[2]] * 3).maps
    wrt_input = VanillaGradient(model).explain(to_model(unit), [[2]] * 3).maps
    np.testing.assert_allclose(wrt_unit, 255 * wrt_input, rtol=1e-4)


def test_nested_sequential_model_equals_finite_differences(model, images):
    """keras.Sequential([pretrained_base, Dense]): the wrapped-base pattern of transfer learning."""
    base = model.layers[1]
    nested = keras.Sequential([keras.Input((6, 6, 3), dtype="float64"), base, model.layers[-1]])
    maps = VanillaGradient(nested).explain(images, [[1]] * 3).maps
    expected = np.abs(finite_difference_gradient(model, images[0], 1)).max(-1)
    np.testing.assert_allclose(maps[0, 0], expected, rtol=1e-4, atol=1e-6)


def test_explaining_does_not_modify_the_model(model, images):
    config, weights = model.to_json(), [w.copy() for w in model.get_weights()]
    before = model.predict(images, verbose=0)
    VanillaGradient(model).explain(images, top_k=2)
    assert model.to_json() == config
    for old, new in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(model.predict(images, verbose=0), before)


def test_bad_arguments_have_clear_errors(model, images):
    with pytest.raises(ValueError, match="reduction"):
        VanillaGradient(model, reduction="mean")
    with pytest.raises(ValueError, match="batch"):
        VanillaGradient(model).explain(images[0])
    with pytest.raises(ValueError, match="rows"):
        VanillaGradient(model).explain(images, [[1], [2]])


def test_normalise_is_safe_on_all_zero_maps():
    maps = np.zeros((2, 3, 4, 4), dtype=np.float32)
    maps[0, 1, 2, 2] = 5.0
    out = normalise_maps(maps)
    assert np.isfinite(out).all() and out.max() == 1.0 and out[1].max() == 0.0
