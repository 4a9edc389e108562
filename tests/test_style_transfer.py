"""Style transfer: losses against NumPy, gradients against finite differences, the one-pass
feature network, and that transfer really works with a seeded random VGG16 on real photos."""
from __future__ import annotations

import numpy as np
import pytest

from tests.style_transfer_helpers import (
    np_content,
    np_gram,
    np_style,
    np_tv,
    photo,
    tiny_vgg,
    vgg16_weight_file,
    yiq_chroma,
)

tf = pytest.importorskip("tensorflow")

from utilities.style_transfer import (  # noqa: E402
    CONTENT_LAYER,
    STYLE_LAYERS,
    LayerChoiceError,
    StyleObjective,
    TransferSettings,
    content_loss,
    gram_matrix,
    reference_weights,
    style_loss,
    stylise,
    tv_loss,
)
from utilities.style_transfer.features import build_extractor, feature_network_from_model  # noqa: E402

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------- losses vs NumPy references

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_equal_numpy_references(dtype):
    rng = np.random.default_rng(0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    a, b = rng.standard_normal((2, 1, 5, 7, 6)).astype(dtype)
    np.testing.assert_allclose(float(content_loss(0.3, a, b)), np_content(0.3, a, b), rtol=tol)

    feats = [rng.standard_normal((2, 6, 5, c)).astype(dtype) for c in (3, 4)]
    np.testing.assert_allclose(gram_matrix(feats[0]).numpy(), np_gram(feats[0]), rtol=tol, atol=tol)
    np.testing.assert_allclose(gram_matrix(feats[0], normalize=False).numpy(), np_gram(feats[0], False), rtol=tol)
    targets = [np_gram(rng.standard_normal(f.shape)) for f in feats]
    np.testing.assert_allclose(float(style_loss(feats, targets, [2.0, 0.5])), np_style(feats, targets, [2.0, 0.5]),
                               rtol=tol)

    images = rng.uniform(0, 255, (2, 9, 11, 3)).astype(dtype)
    np.testing.assert_allclose(float(tv_loss(images, 1e-3)), np_tv(images, 1e-3), rtol=tol)


def test_style_loss_on_raw_grams_is_gatys_layer_term():
    """E_l = sum((G - A)^2) / (4 N^2 M^2) of the paper is style_loss with raw Gram matrices, w = 1/(4N^2M^2)."""
    rng = np.random.default_rng(1)
    x, s = rng.standard_normal((2, 1, 6, 4, 5))
    n_l, m_l = 5, 6 * 4
    raw_x, raw_s = np_gram(x, False)[0], np_gram(s, False)[0]
    paper = np.sum((raw_x - raw_s) ** 2) / (4 * n_l**2 * m_l**2)
    ours = style_loss([x], [raw_s[None]], [1 / (4 * n_l**2 * m_l**2)], normalize=False)
    np.testing.assert_allclose(float(ours), paper, rtol=1e-12)
    # ... and with normalised Gram matrices (G / (M N)) the same term has weight 1/4
    np.testing.assert_allclose(float(style_loss([x], [np_gram(s)], [0.25])), paper, rtol=1e-12)


def test_style_loss_needs_one_weight_per_layer():
    f = np.ones((1, 2, 2, 3))
    with pytest.raises(ValueError, match="one of each per layer"):
        style_loss([f, f], [np_gram(f)], [1.0])


def _finite_difference_check(fn, x: np.ndarray, samples: int = 12, eps: float = 1e-6):
    """Central differences at random coordinates vs the tape gradient (float64)."""
    x = tf.constant(x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    grad = tape.gradient(value, x).numpy().ravel()
    flat = x.numpy().ravel()
    for index in RNG.choice(flat.size, samples, replace=False):
        plus, minus = flat.copy(), flat.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (float(fn(tf.constant(plus.reshape(x.shape)))) - float(fn(tf.constant(minus.reshape(x.shape))))) / (
            2 * eps)
        np.testing.assert_allclose(grad[index], numeric, rtol=1e-5, atol=1e-7)
    assert np.abs(grad).max() > 0


def test_loss_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    original = rng.standard_normal((1, 4, 5, 3))
    _finite_difference_check(lambda f: content_loss(0.7, f, original), rng.standard_normal((1, 4, 5, 3)))
    targets = [np_gram(rng.standard_normal((1, 4, 5, 3)))]
    _finite_difference_check(lambda f: style_loss([f], targets, [3.0]), rng.standard_normal((1, 4, 5, 3)))
    _finite_difference_check(lambda f: gram_matrix(f)[0, 1, 2] + gram_matrix(f)[0, 0, 0],
                             rng.standard_normal((1, 3, 4, 3)))
    _finite_difference_check(lambda x: tv_loss(x, 0.2), rng.uniform(0, 1, (1, 5, 6, 3)))


# ---------------------------------------------------------------- the one-pass feature network

@pytest.fixture(scope="module")
def vgg16(tmp_path_factory, vgg16_caffe_weights):
    """The project's VGG16 loaded through build_model from a seeded synthetic vgg16.npy."""
    import models

    return models.build_model("vgg16", weights=vgg16_weight_file(tmp_path_factory, vgg16_caffe_weights))


@pytest.fixture(scope="module")
def network(vgg16):
    import models

    return feature_network_from_model(vgg16, models.get_spec("vgg16").preprocess, CONTENT_LAYER, STYLE_LAYERS)


def test_extractor_is_one_pass_over_the_same_layers(vgg16, network):
    import keras

    layers = list(network.layers)
    assert layers == [CONTENT_LAYER, *STYLE_LAYERS] and len(network.extractor.outputs) == 6
    # the same variables as the network (no copy), only the convolutions up to block5_conv1
    own = {id(v) for v in vgg16.weights}
    assert all(id(v) in own for v in network.extractor.weights)
    assert {w.path.split("/")[0] for w in network.extractor.weights} == {
        f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for i in range(1, n + 1)} | {"block5_conv1"}
    # at the network's own size it reproduces the full model's activations
    x = np.random.default_rng(3).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    reference = keras.Model(vgg16.inputs, [vgg16.get_layer(n).output for n in layers])([network.preprocess(x)])
    ours = network(x)
    for name, expected in zip(layers, reference, strict=True):
        np.testing.assert_allclose(ours[name].numpy(), expected.numpy(), rtol=1e-4, atol=1e-4 * float(
            np.abs(expected).max()))
    # and takes any picture size
    assert network(np.zeros((1, 40, 72, 3), np.float32))["block5_conv1"].shape == (1, 2, 4, 512)


def test_unknown_layer_is_named():
    with pytest.raises(LayerChoiceError, match="block9_conv9.*block1_conv1"):
        build_extractor(tiny_vgg(), ["block1_conv1", "block9_conv9"])


def test_bfloat16_features_close_to_float32():
    x = np.random.default_rng(4).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32) - 120
    f32 = feature_network_from_model(tiny_vgg(seed=5), lambda v: v, "block3_conv1", ["block1_conv1", "block2_conv1"])
    bf16 = feature_network_from_model(tiny_vgg(seed=5), lambda v: v, "block3_conv1", ["block1_conv1", "block2_conv1"],
                                      precision="bfloat16")
    assert bf16.extractor.outputs[0].dtype == "bfloat16"
    a, b = f32(x), bf16(x)
    for name in f32.layers:
        assert b[name].dtype == tf.float32
        error = float(tf.norm(a[name] - b[name]) / tf.norm(a[name]))
        assert 0 < error < 0.03, (name, error)


# ---------------------------------------------------------------- the objective and the optimisers

def test_objective_terms_are_the_losses_of_the_features():
    net = feature_network_from_model(tiny_vgg(seed=1), lambda v: v - 120.0, "block2_conv2", ["block1_conv1",
                                                                                           "block3_conv1"])
    rng = np.random.default_rng(5)
    content, style, image = (rng.uniform(0, 255, (24, 20, 3)).astype(np.float32) for _ in range(3))
    weights = reference_weights(net, content.shape, style=[2.0, 3.0], tv=1e-3)
    objective = StyleObjective(net, content, style, weights)
    f_img, f_c, f_s = (net(x[None]) for x in (image, content, style))
    expected_content = np_content(weights.content, f_img["block2_conv2"].numpy(), f_c["block2_conv2"].numpy())
    expected_style = np_style([f_img[n].numpy() for n in net.style_layers],
                              [np_gram(f_s[n].numpy()) for n in net.style_layers], [2.0, 3.0])
    terms = objective.evaluate(image)
    np.testing.assert_allclose([terms.content, terms.style, terms.tv],
                               [expected_content, expected_style, np_tv(image[None], 1e-3)], rtol=2e-4)
    # neural-style's content default: 5 / (elements of the content map) -> 5 * mean((F - P)^2)
    assert weights.content == pytest.approx(5.0 / (12 * 10 * 12))  # block2_conv2 of 24x20: 12x10 map, 12 channels
    # the compiled gradient is the gradient of the sum
    with tf.GradientTape() as tape:
        x = tf.constant(image)
        tape.watch(x)
        total = tf.add_n(objective.terms(x))
    expected = tape.gradient(total, x).numpy()
    np.testing.assert_allclose(objective.value_and_gradient(image)[1].numpy(), expected, rtol=1e-4,
                               atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimisers_lower_the_loss_and_respect_pixel_bounds(optimizer):
    net = feature_network_from_model(tiny_vgg(seed=2), lambda v: v - 120.0, "block2_conv1", ["block1_conv1",
                                                                                           "block2_conv1"])
    content, style = photo("astronaut", 32), photo("coffee", 32)
    settings = TransferSettings(iterations=15, optimizer=optimizer, init="noise", content_weight=1e-2,
                                style_weights=(1e3, 1e3), tv_weight=1e-5, learning_rate=20.0)
    seen = []
    result = stylise(net, content, style, settings, on_iteration=lambda i, terms, image: seen.append((i, image())))
    assert [i for i, _ in seen] == list(range(1, 16)) and len(result.history) == 15
    assert result.final.total < 0.5 * result.initial.total
    assert result.image.min() >= 0 and result.image.max() <= 255 and result.image.shape == content.shape
    np.testing.assert_allclose(seen[-1][1], result.image, atol=1e-3 if optimizer == "lbfgs" else 1e-6)


# ---------------------------------------------------------------- it really works (random VGG16, real photos)

def _gram_distances(network, image, style):
    a, b = network(image[None]), network(style[None])
    return np.array([float(tf.norm(gram_matrix(a[n]) - gram_matrix(b[n]))) for n in network.style_layers])


def test_transfer_moves_gram_matrices_to_the_style_and_keeps_content(network):
    """Seeded random VGG16 (He weights; random-feature Gram matrices still describe texture), 64 px photos."""
    content, style = photo("astronaut", 64), photo("coffee", 64)
    settings = TransferSettings(iterations=30, optimizer="lbfgs", content_weight=0.1,
                                style_weights=(1e4,) * 5, tv_weight=1e-6)
    result = stylise(network, content, style, settings)
    assert result.final.style < result.initial.style / 6          # measured: 14x
    before, after = _gram_distances(network, content, style), _gram_distances(network, result.image, style)
    assert np.all(after < 0.6 * before), after / before           # every layer
    # content bounded: the content layer's map moved less than half as far as a noise picture's is
    content_map = network(content[None])[CONTENT_LAYER]
    drift = float(tf.reduce_sum(tf.square(network(result.image[None])[CONTENT_LAYER] - content_map)))
    noise = np.random.default_rng(0).uniform(0, 255, content.shape).astype(np.float32)
    noise_drift = float(tf.reduce_sum(tf.square(network(noise[None])[CONTENT_LAYER] - content_map)))
    assert drift < 0.5 * noise_drift                              # measured: 0.29
    assert np.abs(result.image - content).mean() > 5              # and the picture did change


def test_preserve_colors_keeps_the_content_chroma(network):
    content, style = photo("chelsea", 48), photo("coffee", 48)
    common = dict(iterations=12, optimizer="adam", learning_rate=8.0, content_weight=1e-3, style_weights=(1e4,) * 5,
                  tv_weight=1e-6)
    kept = stylise(network, content, style, TransferSettings(preserve_colors=True, **common))
    free = stylise(network, content, style, TransferSettings(**common))
    assert kept.final.style < kept.initial.style / 2 and free.final.style < free.initial.style / 2
    chroma_kept = np.abs(yiq_chroma(kept.image) - yiq_chroma(content)).mean()
    chroma_free = np.abs(yiq_chroma(free.image) - yiq_chroma(content)).mean()
    assert chroma_kept < 1.5 and chroma_kept < 0.3 * chroma_free, (chroma_kept, chroma_free)
    luma_change = np.abs(kept.image.mean(-1) - content.mean(-1)).mean()
    assert luma_change > 2  # the luminance was stylised


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_on_iteration_returning_true_stops_the_run(optimizer):
    net = feature_network_from_model(tiny_vgg(seed=3), lambda v: v - 120.0, "block2_conv1", ["block1_conv1"])
    content = photo("coffee", 24)
    settings = TransferSettings(iterations=50, optimizer=optimizer, content_weight=1e-2, style_weights=(1e3,),
                                tv_weight=1e-5)
    result = stylise(net, content, photo("chelsea", 24), settings, on_iteration=lambda i, terms, image: i == 4)
    assert len(result.history) == 4
