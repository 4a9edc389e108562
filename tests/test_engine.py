"""The shared pass gives every method the maps its own `explain` gives, from one forward pass."""
import keras
import numpy as np
import pytest

from tests.test_explain_methods import SIZE, cam_models
from utilities.explain.base import CAM
from utilities.explain.engine import SharedPass
from utilities.explain.gradcam import GradCAM
from utilities.explain.registry import METHODS, build_explainers
from utilities.explain.saliency import VanillaGradient

OPTIONS = {"smoothgrad": {"samples": 3}, "smoothgrad_sq": {"samples": 3}, "vargrad": {"samples": 3},
           "integrated_gradients": {"steps": 4}, "scorecam": {"max_channels": 3}, "occlusion": {"window": 3}}


@pytest.fixture(scope="module")
def cams():
    return cam_models()


def half_preprocess(x):
    return x * 2.0 - 1.0


@pytest.mark.parametrize("which", ["nested", "sequential"])
def test_every_method_gets_the_maps_of_its_own_explain(cams, which):
    nested, base, head = cams
    model = nested if which == "nested" else keras.Sequential([keras.Input((SIZE, SIZE, 3)), base] + head)
    layer = "features" if which == "nested" else "base/features"
    images = np.random.default_rng(21).uniform(0, 1, (5, SIZE, SIZE, 3)).astype(np.float32)
    names = list(METHODS)
    shared = SharedPass(build_explainers(model, names, half_preprocess, layer, 2, OPTIONS), top_k=3, batch_size=2)
    assert shared.layer == layer and {"saliency", "gradcam", "gradient_x_input", "layercam"} <= set(shared.shared)
    result = shared.explain(images)
    logits = model.predict(half_preprocess(images), verbose=0)
    np.testing.assert_allclose(result.logits, logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.classes, np.argsort(-logits, axis=1, kind="stable")[:, :3])
    alone = build_explainers(model, names, half_preprocess, layer, 2, OPTIONS)   # fresh: same random seeds
    for name, explainer in alone.items():
        k = 3 if isinstance(explainer, CAM) else 1
        expected = explainer.explain(images, result.classes[:, :k]).maps
        assert result.maps[name].shape == expected.shape, name
        scale = max(np.abs(expected).max(), 1e-12)
        assert np.abs(result.maps[name] - expected).max() <= 1e-5 * scale, name


def test_methods_on_another_layer_run_their_own_pass(cams):
    model, _, _ = cams
    images = np.random.default_rng(22).uniform(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    explainers = {"gradcam": GradCAM(model, "features"), "other": GradCAM(model, "base/conv_a"),
                  "saliency": VanillaGradient(model)}
    shared = SharedPass(explainers, top_k=2)
    assert set(shared.shared) == {"gradcam", "saliency"}
    result = shared.explain(images)
    expected = GradCAM(model, "base/conv_a").explain(images, result.classes).maps
    np.testing.assert_allclose(result.maps["other"], expected, rtol=1e-5, atol=1e-7)


def test_explainers_must_share_the_model_and_preprocessing(cams):
    model, base, _ = cams
    with pytest.raises(ValueError, match="same model"):
        SharedPass({"a": VanillaGradient(model), "b": VanillaGradient(model, preprocess=half_preprocess)})
    with pytest.raises(ValueError, match="at least one"):
        SharedPass({})
    with pytest.raises(ValueError, match="non-empty"):
        SharedPass({"a": VanillaGradient(model)}).explain(np.zeros((0, SIZE, SIZE, 3)))
