"""SmoothGrad family, Integrated Gradients, guided methods, Grad-CAM++ and Score-CAM against
independent computations (numpy by hand, finite quantities, other methods), on tiny models."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.shapes_task import EDGES_MAX, MARGIN_OVER_EDGES, MODEL_BASED_MIN, TOLERANCE, rates_table, trained_shapes
from utilities.explain import occlusion
from utilities.explain._graph import guided_model
from utilities.explain.base import resize_maps
from utilities.explain.gradcam import GradCAM
from utilities.explain.gradcam_plusplus import GradCAMPlusPlus
from utilities.explain.gradient_x_input import GradientXInput
from utilities.explain.guided_backprop import GuidedBackprop
from utilities.explain.guided_gradcam import GuidedGradCAM
from utilities.explain.integrated_gradients import IntegratedGradients
from utilities.explain.layercam import LayerCAM
from utilities.explain.metrics.pointing_game import pointing_game
from utilities.explain.occlusion import Occlusion
from utilities.explain.registry import EXTRA_METHODS, takes_layer
from utilities.explain.saliency import VanillaGradient
from utilities.explain.scorecam import ScoreCAM
from utilities.explain.smoothgrad import SmoothGrad, SmoothGradSquared, VarGrad

relu = lambda z: np.maximum(z, 0)  # noqa: E731


def smooth_model(size=8):
    """Smooth activations: quadrature and gradients behave, completeness can be tight."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, activation="softplus", name="conv_a")(inputs)
    x = keras.layers.Conv2D(3, 3, activation="tanh", name="conv_b")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="smooth")


@pytest.fixture(scope="module")
def smooth():
    return smooth_model()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)


def reduce_max_abs(attributions):
    return np.abs(attributions).max(axis=-1)


# --- SmoothGrad family -------------------------------------------------------------------------
def test_smoothgrad_with_zero_noise_is_vanilla(smooth, images):
    classes = np.array([[0, 3], [2, 1], [1, 1]])
    vanilla = VanillaGradient(smooth).explain(images, classes).maps
    smoothed = SmoothGrad(smooth, noise_level=0.0, samples=5, pass_batch=4, batch_size=2)
    np.testing.assert_allclose(smoothed.explain(images, classes).maps, vanilla, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("method, aggregate", [
    (SmoothGrad, lambda g: g.mean(0)),
    (SmoothGradSquared, lambda g: (g ** 2).mean(0)),
    (VarGrad, lambda g: g.var(0)),
])
def test_smoothgrad_family_aggregates_vanilla_gradients_of_noisy_images(smooth, images, method, aggregate):
    explainer = method(smooth, samples=7, noise_level=0.2, pass_batch=6, batch_size=2)
    classes = np.array([[1], [3], [0]], dtype=np.int32)
    maps = explainer.explain(images, classes).maps
    noise = explainer.noise(images.shape[1:]).numpy()
    sigma = 0.2 * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    vanilla = VanillaGradient(smooth)
    for n in range(len(images)):
        noisy = images[n][None] + noise * sigma[n]
        _, _, grads = vanilla.attribute(tf.constant(noisy), tf.constant(np.repeat(classes[n:n + 1], 7, 0)))
        expected = reduce_max_abs(aggregate(grads.numpy()[:, 0]))
        np.testing.assert_allclose(maps[n, 0], expected, rtol=2e-4, atol=1e-9)
    assert maps.max() > 0


def test_smoothgrad_does_not_depend_on_batching(smooth, images):
    a = SmoothGrad(smooth, samples=5, batch_size=3, pass_batch=64).explain(images, top_k=2).maps
    b = SmoothGrad(smooth, samples=5, batch_size=1, pass_batch=2).explain(images, top_k=2).maps
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


# --- Integrated Gradients ----------------------------------------------------------------------
def test_integrated_gradients_of_a_linear_model_is_input_times_weight(images):
    keras.utils.set_random_seed(6)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    weights = model.layers[-1].get_weights()[0]                    # (192, 3)
    result = IntegratedGradients(model, steps=3, baseline=0.25).attributions(images, [[2]] * 3)
    expected = (images - 0.25) * weights[:, 2].reshape(8, 8, 3)
    np.testing.assert_allclose(result.attributions[:, 0], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.delta, 0, atol=1e-4)


@pytest.mark.parametrize("rule, steps, tolerance", [("trapezoid", 64, 2e-3), ("gauss_legendre", 12, 1e-4)])
def test_integrated_gradients_completeness_on_a_smooth_model(smooth, images, rule, steps, tolerance):
    explainer = IntegratedGradients(smooth, steps=steps, rule=rule, pass_batch=20, batch_size=2)
    result = explainer.attributions(images, top_k=2)
    logits = smooth.predict(images, verbose=0)
    baseline_logits = smooth.predict(np.zeros_like(images), verbose=0)
    change = np.take_along_axis(logits - baseline_logits, result.classes, axis=1)
    assert np.abs(change).min() > 1e-2                              # a non-trivial check
    np.testing.assert_allclose(result.attributions.sum(axis=(2, 3, 4)), change,
                               atol=tolerance * np.abs(change).max())
    np.testing.assert_allclose(result.delta, result.attributions.sum(axis=(2, 3, 4)) - change, atol=1e-5)
    maps = explainer.explain(images, result.classes).maps
    np.testing.assert_allclose(maps, reduce_max_abs(result.attributions), rtol=1e-5, atol=1e-9)


def test_integrated_gradients_completeness_on_a_trained_relu_cnn():
    model, images, labels, _ = trained_shapes()
    result = IntegratedGradients(model, steps=128, baseline="blur", blur_sigma=2.0,
                                 pass_batch=64).attributions(images[:4], labels[:4])
    change = result.attributions.sum(axis=(2, 3, 4)) - result.delta
    assert np.abs(change).min() > 0.5
    assert np.abs(result.delta / change).max() < 0.05


def test_integrated_gradients_bad_arguments(smooth):
    with pytest.raises(ValueError, match="baseline"):
        IntegratedGradients(smooth, baseline="black")
    with pytest.raises(ValueError, match="rule"):
        IntegratedGradients(smooth, rule="simpson")
    with pytest.raises(ValueError, match="steps"):
        IntegratedGradients(smooth, steps=0)


# --- Guided backprop ---------------------------------------------------------------------------
def dense_relu_model():
    """Flatten -> Dense(relu) -> Dense -> ReLU layer -> Dense -> Activation(relu) -> Dense."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((2, 2, 3))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(10, activation="relu", name="d1")(x)
    x = keras.layers.ReLU()(keras.layers.Dense(9, name="d2")(x))
    x = keras.layers.Activation("relu")(keras.layers.Dense(8, name="d3")(x))
    return keras.Model(inputs, keras.layers.Dense(4, name="out")(x))


def guided_dense_by_hand(model, x, c):
    layers = ("d1", "d2", "d3", "out")
    (w1, b1), (w2, b2), (w3, b3), (w4, _) = (model.get_layer(n).get_weights() for n in layers)
    z1 = x.reshape(-1) @ w1 + b1
    z2 = relu(z1) @ w2 + b2
    z3 = relu(z2) @ w3 + b3
    g = w4[:, c]
    for z, w in ((z3, w3), (z2, w2), (z1, w1)):
        g = (g * (z > 0) * (g > 0)) @ w.T     # guided ReLU: positive gradient AND positive input
    return g.reshape(x.shape)


def test_guided_backprop_equals_hand_computation_on_a_dense_net():
    model = dense_relu_model()
    x = np.random.default_rng(8).normal(size=(6, 2, 2, 3)).astype(np.float32)
    classes = np.array([[0], [1], [2], [3], [0], [2]], dtype=np.int32)
    explainer = GuidedBackprop(model)
    _, _, attributions = explainer.attribute(tf.constant(x), tf.constant(classes))
    expected = np.stack([guided_dense_by_hand(model, x[n], classes[n, 0]) for n in range(6)])
    np.testing.assert_allclose(attributions.numpy()[:, 0], expected, rtol=1e-4, atol=1e-7)
    vanilla = VanillaGradient(model).attribute(tf.constant(x), tf.constant(classes))[2].numpy()[:, 0]
    assert not np.allclose(vanilla, expected, atol=1e-3)           # the guided rule mattered
    np.testing.assert_allclose(explainer.explain(x, classes).maps[:, 0], reduce_max_abs(expected), rtol=1e-4,
                               atol=1e-7)


def conv_relu_nested_model():
    """Sequential([Input, functional conv base (relu), Flatten, Dense]): the nested case."""
    keras.utils.set_random_seed(9)
    inputs = keras.Input((5, 5, 2))
    base = keras.Model(inputs, keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs), name="base")
    return keras.Sequential([keras.Input((5, 5, 2)), base, keras.layers.Flatten(),
                             keras.layers.Dense(4, name="out")], name="outer")


def guided_conv_by_hand(model, x, c):
    kernel, bias = model.get_layer("base").get_layer("conv").get_weights()   # (3,3,2,3)
    w = model.get_layer("out").get_weights()[0]
    z = np.zeros((3, 3, 3))
    for i in range(3):
        for j in range(3):
            z[i, j] = np.tensordot(x[i:i + 3, j:j + 3], kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    g = w[:, c].reshape(3, 3, 3)
    g = g * (z > 0) * (g > 0)
    gx = np.zeros_like(x, dtype=np.float64)
    for i in range(3):
        for j in range(3):
            gx[i:i + 3, j:j + 3] += np.tensordot(kernel, g[i, j], axes=([3], [0]))
    return gx


def test_guided_backprop_equals_hand_computation_on_a_nested_conv_net():
    model = conv_relu_nested_model()
    x = np.random.default_rng(10).normal(size=(4, 5, 5, 2)).astype(np.float32)
    classes = np.array([[1], [3], [0], [2]], dtype=np.int32)
    _, _, attributions = GuidedBackprop(model).attribute(tf.constant(x), tf.constant(classes))
    for n in range(4):
        expected = guided_conv_by_hand(model, x[n], classes[n, 0])
        np.testing.assert_allclose(attributions.numpy()[n, 0], expected, rtol=1e-4, atol=1e-6)


def test_guided_copy_shares_weights_and_leaves_the_model_alone():
    model = dense_relu_model()
    x = np.random.default_rng(11).normal(size=(3, 2, 2, 3)).astype(np.float32)
    before_json, before_weights = model.to_json(), [w.copy() for w in model.get_weights()]
    vanilla_before = VanillaGradient(model).explain(x, top_k=2).maps
    guided = guided_model(model)
    np.testing.assert_allclose(guided(x), model(x), rtol=1e-6)
    GuidedBackprop(model).explain(x, top_k=2)
    assert model.to_json() == before_json
    for old, new in zip(before_weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_allclose(VanillaGradient(model).explain(x, top_k=2).maps, vanilla_before, rtol=1e-6)
    model.get_layer("out").kernel.assign(model.get_layer("out").kernel * 2)   # shared, not copied
    np.testing.assert_allclose(guided(x), model(x), rtol=1e-6)
    model.set_weights(before_weights)


# --- class-map variants ------------------------------------------------------------------------
SIZE = 8


def cam_models():
    """A conv base ('features', relu) and a Flatten -> tanh Dense -> Dense head; flat and nested."""
    keras.utils.set_random_seed(12)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv_a")(inputs)
    base = keras.Model(inputs, keras.layers.Conv2D(5, 3, activation="relu", name="features")(x), name="base")
    head = [keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh", name="hidden"),
            keras.layers.Dense(4, name="logits")]
    outer_in = keras.Input((SIZE, SIZE, 3))
    y = base(outer_in)
    for layer in head:
        y = layer(y)
    return keras.Model(outer_in, y, name="wrapped"), base, head


@pytest.fixture(scope="module")
def cams():
    return cam_models()


def activations_and_gradient(base, head, images):
    """A (N,h,w,c) from the base, and dy/dA (N,classes,h,w,c) analytically (no tapes)."""
    activations = base.predict(images, verbose=0)
    (w1, b1), (w2, _) = head[1].get_weights(), head[2].get_weights()
    hidden = np.tanh(activations.reshape(len(images), -1) @ w1 + b1)            # (N, 6)
    grads = np.einsum("fh,nh,hc->ncf", w1, 1 - hidden ** 2, w2)                  # (N, classes, f)
    return activations, grads.reshape((len(images), w2.shape[1]) + activations.shape[1:])


def test_grad_cam_plus_plus_equals_the_formula_by_hand(cams):
    model, base, head = cams
    images = np.random.default_rng(13).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    result = GradCAMPlusPlus(model, "features").explain(images, top_k=2)
    activations, grads = activations_and_gradient(base, head, images)
    for n in range(3):
        for k in range(2):
            g, a = grads[n, result.classes[n, k]].astype(np.float64), activations[n].astype(np.float64)
            denominator = 2 * g ** 2 + a.sum(axis=(0, 1)) * g ** 3
            alpha = np.divide(g ** 2, denominator, out=np.zeros_like(g), where=denominator != 0)
            weights = (alpha * relu(g)).sum(axis=(0, 1))
            np.testing.assert_allclose(result.maps[n, k], relu((a * weights).sum(-1)), rtol=1e-3, atol=1e-7)
    assert result.maps.max() > 0


def score_cam_by_hand(model, base, images, classes):
    """Weights: softmax probability of the class on image * (upsampled, min-max scaled channel)."""
    activations = base.predict(images, verbose=0)
    n, h, w, c = activations.shape
    up = resize_maps(activations.transpose(0, 3, 1, 2), images.shape[1:3])    # (N, c, H, W)
    low, high = up.min(axis=(2, 3), keepdims=True), up.max(axis=(2, 3), keepdims=True)
    varies = (high > low)[:, :, 0, 0]
    masks = np.where(high > low, (up - low) / np.where(high > low, high - low, 1), 0)
    masked = images[:, None] * masks[..., None]                                  # (N, c, H, W, 3)
    logits = model.predict(masked.reshape((-1,) + images.shape[1:]), verbose=0).astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).reshape(n, c, -1)
    class_probs = np.take_along_axis(probs, classes[:, None, :], 2).transpose(0, 2, 1)   # (N, K, c)
    weights = np.where(varies[:, None], class_probs, 0)
    return weights, relu(np.einsum("nhwc,nkc->nkhw", activations, weights))


def test_score_cam_weights_are_the_masked_pass_class_probabilities(cams):
    model, base, _ = cams
    images = np.random.default_rng(14).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    classes = np.array([[0, 3], [2, 2], [1, 0]], dtype=np.int32)
    expected_weights, expected_maps = score_cam_by_hand(model, base, images, classes)
    explainer = ScoreCAM(model, "features", pass_batch=4, batch_size=2)
    _, resolved, activations, _ = explainer.layer_maps(tf.constant(images), tf.constant(classes))
    weights = explainer.channel_weights(tf.constant(images), activations, None, resolved).numpy()
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-4, atol=1e-6)
    assert 0 < weights.max() <= 1
    for pass_batch in (4, 1000):   # chunking of the masked passes does not matter
        maps = ScoreCAM(model, "features", pass_batch=pass_batch, batch_size=2).explain(images, classes).maps
        np.testing.assert_allclose(maps, expected_maps, rtol=1e-4, atol=1e-6)


def test_faster_score_cam_keeps_only_the_most_varying_channels(cams):
    model, base, _ = cams
    images = np.random.default_rng(14).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    classes = np.array([[0], [2], [1]], dtype=np.int32)
    all_weights, _ = score_cam_by_hand(model, base, images, classes)
    variances = base.predict(images, verbose=0).var(axis=(1, 2))                 # (N, c)
    kept = np.argsort(-variances, axis=1)[:, :2]
    expected = np.zeros_like(all_weights)
    for n in range(3):
        expected[n, :, kept[n]] = all_weights[n, :, kept[n]]
    explainer = ScoreCAM(model, "features", max_channels=2)
    _, resolved, activations, _ = explainer.layer_maps(tf.constant(images), tf.constant(classes))
    weights = explainer.channel_weights(tf.constant(images), activations, None, resolved).numpy()
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    assert (np.count_nonzero(weights, axis=2) <= 2).all() and weights.max() > 0


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam(cams):
    model, _, _ = cams
    images = np.random.default_rng(15).uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    classes = np.array([[1, 2], [3, 0]], dtype=np.int32)
    _, _, guided = GuidedBackprop(model).attribute(tf.constant(images), tf.constant(classes))
    cam = resize_maps(GradCAM(model, "features").explain(images, classes).maps, (SIZE, SIZE))
    maps = GuidedGradCAM(model, "features").explain(images, classes).maps
    np.testing.assert_allclose(maps, reduce_max_abs(guided.numpy() * cam[..., None]), rtol=1e-4, atol=1e-8)
    assert maps.max() > 0


def test_layercam_equals_the_formula_by_hand(cams):
    model, base, head = cams
    images = np.random.default_rng(17).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    result = LayerCAM(model, "features").explain(images, top_k=2)
    activations, grads = activations_and_gradient(base, head, images)
    for n in range(3):
        for k in range(2):
            g = grads[n, result.classes[n, k]]
            np.testing.assert_allclose(result.maps[n, k], relu((relu(g) * activations[n]).sum(-1)),
                                       rtol=1e-4, atol=1e-7)
    assert result.maps.max() > 0


def test_gradient_x_input_equals_the_formula_on_a_linear_model(images):
    """Linear logits W x + b: d logit_c / dx = W_c, so the map is sum_c |x * W_c| (or max)."""
    keras.utils.set_random_seed(18)
    inputs = keras.Input((8, 8, 3))
    linear = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(inputs)))
    kernel = linear.layers[-1].get_weights()[0].reshape(8, 8, 3, 4)
    classes = np.array([[0, 3], [1, 1], [2, 0]], dtype=np.int32)
    for reduction, reduce in (("sum", lambda a: np.abs(a).sum(-1)), ("max", lambda a: np.abs(a).max(-1))):
        maps = GradientXInput(linear, reduction=reduction).explain(images, classes).maps
        for n in range(3):
            for k in range(2):
                expected = reduce(images[n] * kernel[..., classes[n, k]])
                np.testing.assert_allclose(maps[n, k], expected, rtol=1e-5, atol=1e-7)


def occlusion_by_hand(model, images, classes, window, stride, fill):
    """One occluded copy at a time: the mean drop over the windows covering a pixel, then ReLU."""
    n, height, width, _ = images.shape
    starts = [occlusion.window_positions(height, window, stride), occlusion.window_positions(width, window, stride)]
    clean = model.predict(images, verbose=0)
    total = np.zeros((n, classes.shape[1], height, width))
    count = np.zeros((height, width))
    for top in starts[0]:
        for left in starts[1]:
            hidden = images.copy()
            hidden[:, top:top + window, left:left + window] = fill(images)
            scores = model.predict(hidden, verbose=0)
            drop = np.take_along_axis(clean - scores, classes, axis=1)                   # (N, K)
            total[:, :, top:top + window, left:left + window] += drop[:, :, None, None]
            count[top:top + window, left:left + window] += 1
    return relu(total / count)


@pytest.mark.parametrize("window, stride, baseline", [(3, 2, "mean"), (4, 4, 0.0), (8, 1, 0.5)])
def test_occlusion_equals_the_sliding_window_by_hand(cams, window, stride, baseline):
    model = cams[0]
    images = np.random.default_rng(19).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    classes = np.array([[0, 3], [2, 2], [1, 0]], dtype=np.int32)
    fill = ((lambda x: x.mean(axis=(1, 2), keepdims=True)) if baseline == "mean"
            else (lambda x: np.float32(baseline)))
    expected = occlusion_by_hand(model, images, classes, window, stride, fill)
    for pass_batch in (2, 1000):      # chunking of the occluded passes does not matter
        maps = Occlusion(model, window=window, stride=stride, baseline=baseline, pass_batch=pass_batch,
                         batch_size=2).explain(images, classes).maps
        np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5)
    assert expected.max() > 0


def test_occlusion_positions_cover_the_border_and_arguments_are_checked(cams):
    assert occlusion.window_positions(10, 4, 3) == [0, 3, 6]
    assert occlusion.window_positions(11, 4, 3) == [0, 3, 6, 7]
    assert occlusion.window_positions(3, 5, 2) == [0]
    masks = occlusion.occlusion_masks(11, 10, 4, 3)
    assert masks.shape == (12, 11, 10) and (masks.sum(axis=0) >= 1).all()
    assert Occlusion(cams[0]).geometry(224, 224) == (32, 16)
    for bad in ({"window": 0}, {"stride": 0}, {"pass_batch": 0}, {"baseline": "grey"}):
        with pytest.raises(ValueError):
            Occlusion(cams[0], **bad)


# --- every new method: nested models, no mutation, localisation --------------------------------
def build(cls, model, layer, samples=4, steps=8):
    options = {"layer": layer} if takes_layer(cls) else {}
    if issubclass(cls, SmoothGrad):
        options["samples"] = samples
    if cls is IntegratedGradients:
        options["steps"] = steps
    return cls(model, **options)


@pytest.mark.parametrize("name", [n for n in EXTRA_METHODS if n != "random"])
def test_every_method_gives_the_same_maps_on_flat_and_nested_models(cams, name):
    nested, base, head = cams
    inputs = keras.Input((SIZE, SIZE, 3))
    y = base.get_layer("features")(base.get_layer("conv_a")(inputs))
    for layer in head:
        y = layer(y)
    flat = keras.Model(inputs, y, name="flat")
    sequential = keras.Sequential([keras.Input((SIZE, SIZE, 3)), base] + head, name="seq")
    images = np.random.default_rng(16).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    before = [m.to_json() for m in (nested, sequential)]
    weights = [w.copy() for w in nested.get_weights()]
    cls = EXTRA_METHODS[name]
    expected = build(cls, flat, "features").explain(images, top_k=2)
    for model, layer in ((nested, "features"), (sequential, "base/features")):
        result = build(cls, model, layer).explain(images, top_k=2)
        np.testing.assert_array_equal(result.classes, expected.classes)
        np.testing.assert_allclose(result.maps, expected.maps, rtol=1e-4, atol=1e-7)
    assert [m.to_json() for m in (nested, sequential)] == before
    for old, new in zip(weights, nested.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.slow
def test_pointing_game_of_every_method_on_the_trained_shapes_cnn(shapes_task):
    """Issue 4's localisation test (same model, data with a distractor ring, tolerance) for the
    new methods; rates printed side by side with `pytest -s`. SmoothGrad family: 10 samples;
    IG: 16 steps. The model-free edge map must fall well behind: the ring draws its peak."""
    model, images, labels = shapes_task.model, shapes_task.images, shapes_task.labels
    rates = {}
    for name, cls in [("saliency", VanillaGradient), ("gradcam", GradCAM)] + list(EXTRA_METHODS.items()):
        maps = build(cls, model, "last_conv", samples=10, steps=16).explain(images, labels).maps[:, 0]
        rates[name] = pointing_game(maps, shapes_task.boxes, images.shape[1:3], tolerance=TOLERANCE)
    table = rates_table(rates)
    print("\n" + table)
    chance, edges = rates["random"].chance, rates["edges"].hit_rate
    assert edges <= EDGES_MAX, table
    bar = max(MODEL_BASED_MIN, 4 * chance, edges + MARGIN_OVER_EDGES)
    for name in rates:
        if name not in ("random", "edges"):
            assert rates[name].hit_rate >= bar, (name, table)
    assert abs(rates["random"].hit_rate - chance) <= 0.1, table
