"""`--model squeezenet` in the explanation tools, and the handouts' normalised-space ascent (offline).

SqueezeNet here has seeded synthetic weights in the real h5 layout (tests/real_weights.py), so
these tests check the wiring, not what a trained network does (that is tests/test_explain_real.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.real_weights import synthetic_squeezenet_arrays, write_squeezenet_h5


@pytest.fixture(scope="module")
def synthetic_h5(tmp_path_factory):
    return write_squeezenet_h5(tmp_path_factory.mktemp("squeezenet") / "synthetic.h5",
                               synthetic_squeezenet_arrays(seed=0))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    import cv2
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (90, 120, 3), np.uint8))
    return path


def test_cli_model_lists_agree_with_the_registry():
    import assignment_3b
    import models
    from utilities.explain import single
    from utilities.explain.synthesis import class_visualisation, fooling

    assert assignment_3b.MODEL_NAMES == models.MODEL_NAMES
    assert assignment_3b.GRADCAM_LAYERS == {n: models.get_spec(n).gradcam_layer for n in models.MODEL_NAMES}
    assert assignment_3b.GRADCAM_LAYERS["squeezenet"] == "fire9_concat"
    for parser in (assignment_3b.build_parser(), single.build_parser(["saliency"]),
                   class_visualisation.build_parser(models.ALL_MODEL_NAMES),
                   fooling.build_parser(models.ALL_MODEL_NAMES)):
        model = next(a for a in parser._actions if a.dest == "model")
        assert set(model.choices) == set(models.ALL_MODEL_NAMES)   # or a .keras file (issue 28)
    for parser in (assignment_3b.build_parser(), single.build_parser(["saliency"])):
        layer = next(a for a in parser._actions if a.dest == "layer")
        assert "fire9_concat for squeezenet" in layer.help


def test_presets_follow_the_model():
    from utilities.explain.synthesis import class_visualisation, fooling
    from utilities.explain.synthesis.space import IMAGENET

    assert class_visualisation.default_preset("squeezenet") == "handout"
    assert class_visualisation.default_preset("vgg16") == "rgb" == fooling.default_preset("alexnet")
    handout = class_visualisation.HANDOUT
    assert (handout["learning_rate"], handout["l2_weight"], handout["iterations"], handout["blur_every"],
            handout["jitter"], handout["step_norm"], handout["space"]) == (25.0, 1e-3, 100, 10, 16, "l2", IMAGENET)
    assert fooling.PRESETS["handout"] == {"learning_rate": 1.0, "space": IMAGENET}


def test_normalised_space_round_trip_and_bounds():
    import tensorflow as tf

    from utilities.explain.synthesis.space import IMAGENET, NormalisedSpace

    x = np.random.default_rng(0).uniform(0, 1, (2, 5, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(IMAGENET.to_x(IMAGENET.to_z(x)), x, atol=1e-6)
    low, high = IMAGENET.value_range((0.0, 1.0))
    np.testing.assert_allclose(low, -np.array([0.485, 0.456, 0.406]) / np.array([0.229, 0.224, 0.225]), rtol=1e-6)
    np.testing.assert_allclose(IMAGENET.to_x(high), 1.0, rtol=1e-6)
    model_input = IMAGENET.preprocess(lambda v: v * 255.0)(tf.constant(IMAGENET.to_z(x)))
    np.testing.assert_allclose(model_input.numpy(), x * 255.0, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="std"):
        NormalisedSpace((0.5,), (0.0,))


def test_handout_step_is_learning_rate_long_on_the_normalised_image(synthetic_h5):
    """One step of the class visualisation moves z by exactly learning_rate in L2 (no clip,
    blur or jitter), and the result comes back as x."""
    import models
    from utilities.explain.images import unit_rgb_preprocess
    from utilities.explain.synthesis.class_visualisation import ClassVisualiser
    from utilities.explain.synthesis.space import IMAGENET

    model = models.build_model("squeezenet", synthetic_h5, input_size=None)
    preprocess = unit_rgb_preprocess(models.get_spec("squeezenet").preprocess)
    start = np.random.default_rng(1).uniform(0.2, 0.8, (48, 48, 3)).astype(np.float32)
    visualiser = ClassVisualiser(model, preprocess, iterations=1, learning_rate=3.0, l2_weight=1e-3,
                                 blur_every=0, jitter=0, step_norm="l2", space=IMAGENET, strip_every=1)
    result = visualiser.visualise([5, 9], (48, 48, 3), init=start)
    np.testing.assert_allclose(result.strip[0], np.broadcast_to(start, result.strip[0].shape), atol=1e-6)
    moved = IMAGENET.to_z(result.images) - IMAGENET.to_z(start)
    np.testing.assert_allclose(np.linalg.norm(moved.reshape(2, -1), axis=1), 3.0, rtol=1e-4)
    with pytest.raises(ValueError, match="step_norm"):
        ClassVisualiser(model, step_norm="max")


def test_fooling_in_the_normalised_space_reports_rgb_norms(synthetic_h5):
    import models
    from utilities.explain.images import unit_rgb_preprocess
    from utilities.explain.synthesis.fooling import fool_iterative
    from utilities.explain.synthesis.space import IMAGENET

    model = models.build_model("squeezenet", synthetic_h5, input_size=None)
    preprocess = unit_rgb_preprocess(models.get_spec("squeezenet").preprocess)
    image = np.random.default_rng(2).uniform(0.2, 0.8, (48, 48, 3)).astype(np.float32)
    result = fool_iterative(model, image, 3, preprocess=preprocess, learning_rate=0.5, max_steps=4,
                            value_range=(0.0, 1.0), space=IMAGENET)
    assert 0 < result.steps[0] <= 4
    change = (result.fooled - result.original).reshape(1, -1)
    np.testing.assert_allclose(result.l2, np.linalg.norm(change, axis=1), rtol=1e-5)
    assert result.l2[0] <= 0.5 * 0.229 * result.steps[0] + 1e-4     # a z step of 0.5 is <= 0.5 * max std in x
    assert result.fooled.min() >= 0.0 and result.fooled.max() <= 1.0


def test_the_command_lines_take_squeezenet(synthetic_h5, photo, tmp_path, capsys):
    import assignment_3b
    from utilities.explain import single
    from utilities.explain.synthesis import class_visualisation, fooling

    weights = ["--model", "squeezenet", "--weights", str(synthetic_h5)]
    out = tmp_path / "out"
    assert single.main([str(photo), "--method", "gradcam", *weights, "--output-dir", str(out)]) == 0
    (figure,) = out.glob("photo_gradcam_fire9_concat_*-*.png")      # named by method, layer and class
    assert figure.stat().st_size > 0
    assert assignment_3b.main([str(photo), *weights, "--output-dir", str(out / "3b"), "--no-progress",
                               "--save-arrays"]) == 0
    with np.load(out / "3b" / "photo.npz") as arrays:
        assert arrays["input"].shape[:2] == (227, 227)
    assert class_visualisation.main(["3", "5", "--iterations", "2", "--strip-every", "1", *weights,
                                     "--output-dir", str(out / "cv")]) == 0
    printed = capsys.readouterr().out
    assert "(handout, 2 iterations)" in printed
    assert {"classes.png", "class_3.png", "class_5_strip.png"} <= {p.name for p in (out / "cv").iterdir()}
    code = fooling.main([str(photo), "7", "--max-steps", "3", *weights, "--output-dir", str(out / "fool")])
    assert code in (0, 1) and (out / "fool" / "photo_to_7_iterative.png").exists()
    assert "-> " in capsys.readouterr().out


def test_the_spec_follows_the_weights():
    """Caffe-converted weights keep the model's spec; torchvision weights bring 224 and their preprocessing."""
    import models

    assert models.get_spec("squeezenet", "imagenet") == models.get_spec("squeezenet")
    assert models.get_spec("squeezenet", "random").input_size == 227
    torch = models.get_spec("squeezenet", "imagenet-torch")
    assert (torch.input_size, torch.preprocessing, torch.gradcam_layer) == (224, "torch", "fire9_concat")
