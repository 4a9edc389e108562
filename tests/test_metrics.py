"""Deletion/insertion curves, the model-randomisation check, baselines and `evaluate_methods`."""
import keras
import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.shapes_task import trained_shapes
from utilities.explain.base import resize_maps
from utilities.explain.gradcam import GradCAM
from utilities.explain.metrics import (
    CurveScorer,
    EdgeMap,
    RandomMap,
    cascading_randomisation,
    deletion_insertion,
    evaluate_methods,
    model_randomisation,
    pixel_ranks,
    spearman,
)
from utilities.explain.metrics.randomisation import clone_with_weights, stage_layers, weighted_layers
from utilities.explain.saliency import VanillaGradient


def tiny_model():
    keras.utils.set_random_seed(20)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="tiny")


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- helpers -----------------------------------------------------------------------------------
def test_spearman_matches_scipy_and_constant_maps_count_as_zero():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (7, 7)).astype(float)                  # with ties
    b = a + rng.normal(0, 2, (7, 7))
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert spearman(a, -a) == pytest.approx(-1)
    assert spearman(a, np.zeros((7, 7))) == 0.0


def test_pixel_ranks_order_by_saliency_and_break_ties_at_random():
    maps = np.array([[[0.1, 0.9], [0.5, 0.3]]])
    np.testing.assert_array_equal(pixel_ranks(maps), [[[3, 0], [1, 2]]])
    flat = np.zeros((1, 4, 4))
    a, b = pixel_ranks(flat, seed=0), pixel_ranks(flat, seed=1)
    assert sorted(a.ravel()) == list(range(16)) and not np.array_equal(a, b)
    assert not np.array_equal(a.ravel(), np.arange(16))              # not raster order


# --- deletion / insertion ----------------------------------------------------------------------
def curves_by_hand(model, images, maps, classes, steps):
    """Build every variant in numpy and score it with model.predict (no traced code)."""
    ranks = pixel_ranks(maps)
    counts = np.round(np.linspace(0, 36, steps + 1)).astype(int)
    deletion, insertion = [], []
    for image, rank, c in zip(images, ranks, classes, strict=True):
        mean = np.broadcast_to(image.mean(axis=(0, 1)), image.shape)
        removed = [np.where((rank < k)[..., None], 0.0, image) for k in counts]
        inserted = [np.where((rank < k)[..., None], image, mean) for k in counts]
        deletion.append(softmax(model.predict(np.stack(removed), verbose=0))[:, c])
        insertion.append(softmax(model.predict(np.stack(inserted), verbose=0))[:, c])
    return np.array(deletion), np.array(insertion)


def test_curves_equal_the_variants_scored_by_hand():
    model = tiny_model()
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (3, 6, 6, 3)).astype(np.float32)
    maps = rng.uniform(0, 1, (3, 3, 3)).astype(np.float32)            # low-res: resized first
    classes = np.array([0, 2, 1])
    expected_deletion, expected_insertion = curves_by_hand(model, images, resize_maps(maps, (6, 6)),
                                                           classes, 6)
    for pass_batch, batch_size in ((3, 2), (100, 8)):
        curves = deletion_insertion(model, images, maps, classes, steps=6, insertion_start="mean",
                                    pass_batch=pass_batch, batch_size=batch_size)
        np.testing.assert_allclose(curves.deletion, expected_deletion, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(curves.insertion, expected_insertion, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(curves.fractions, np.linspace(0, 1, 7))
    np.testing.assert_allclose(curves.deletion_auc, np.trapezoid(expected_deletion, dx=1 / 6, axis=1),
                               rtol=1e-4)
    full = softmax(model.predict(images, verbose=0))[[0, 1, 2], classes]
    np.testing.assert_allclose(curves.insertion[:, -1], full, rtol=1e-4)   # all pixels back


def test_an_oracle_map_beats_a_random_map_on_the_trained_cnn():
    model, images, labels, boxes = trained_shapes()
    images, labels, boxes = images[:16], labels[:16], boxes[:16]
    oracle = np.zeros(images.shape[:3], np.float32)
    for i, (top, left, bottom, right) in enumerate(boxes):
        oracle[i, top:bottom, left:right] = 1.0
    noise = np.random.default_rng(2).uniform(size=oracle.shape).astype(np.float32)
    scorer = CurveScorer(model, steps=40, deletion_fill="mean")
    good, bad = scorer.curves(images, oracle, labels), scorer.curves(images, noise, labels)
    assert good.deletion_auc.mean() < bad.deletion_auc.mean() - 0.05
    assert good.insertion_auc.mean() > bad.insertion_auc.mean() + 0.05


def test_bad_curve_arguments():
    model = tiny_model()
    with pytest.raises(ValueError, match="fill"):
        CurveScorer(model, deletion_fill="black")
    with pytest.raises(ValueError, match="score"):
        CurveScorer(model, score="prob")
    with pytest.raises(ValueError, match="maps"):
        deletion_insertion(model, np.zeros((2, 6, 6, 3)), np.zeros((3, 6, 6)), [0, 1])


# --- model randomisation -----------------------------------------------------------------------
def nested_model():
    keras.utils.set_random_seed(21)
    inputs = keras.Input((6, 6, 3))
    base = keras.Model(inputs, keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs), name="base")
    return keras.Sequential([keras.Input((6, 6, 3)), base, keras.layers.Flatten(),
                             keras.layers.Dense(3, name="logits")], name="outer")


def test_cascade_randomises_top_down_on_a_copy_of_a_nested_model():
    model = nested_model()
    model.get_layer("base").trainable = False                        # a frozen (fine-tuned) base
    original = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(3).uniform(size=(2, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(clone_with_weights(model)(x), model(x), rtol=1e-6)
    assert [p for p, _ in weighted_layers(clone_with_weights(model))] == ["base/conv", "logits"]
    seen = []
    for layer, copy in cascading_randomisation(model, stages=None, seed=0):
        randomised = [not np.allclose(a, b) for a, b in zip(original, copy.get_weights(), strict=True)]
        seen.append((layer, randomised))
    # weights order: conv kernel, conv bias, logits kernel, logits bias; zero biases stay zero-ish
    assert seen[0][0] == "logits" and seen[0][1][2] and not seen[0][1][0]
    assert seen[1][0] == "base/conv" and seen[1][1][0] and seen[1][1][2]
    for old, new in zip(original, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)                      # the user's model is untouched
    assert stage_layers(model, 1) == ["logits"]
    with pytest.raises(ValueError, match="cannot randomise"):
        stage_layers(model, ["nope"])


def test_randomisation_lowers_the_correlation_of_model_based_maps():
    model, images, labels, _ = trained_shapes()
    images, labels = images[:8], labels[:8]

    def explainers(m):
        return {"saliency": VanillaGradient(m), "gradcam": GradCAM(m, "last_conv"),
                "edges": EdgeMap(m), "random": RandomMap(m, seed=len(m.name))}

    result = model_randomisation(model, images, explainers, labels, stages=None, seed=0)
    assert result.stages[0] == "logits" and len(result.stages) == 4
    for name in ("saliency", "gradcam"):   # intact = 1.0; a random network's maps are another's
        assert result.mean(name)[-1] < 0.5, (name, result.mean(name))
    # Grad-CAM reads the classifier: randomising only the logits layer already decorrelates it,
    # while the input gradient keeps following the features until they are randomised too
    saliency, gradcam = result.mean("saliency"), result.mean("gradcam")
    assert gradcam[0] < saliency[0] - 0.3 and saliency[-1] < saliency[0] - 0.2, (saliency, gradcam)
    np.testing.assert_allclose(result.correlations["edges"], 1.0)   # ignores the model
    assert result.maps["saliency"].shape == (5, 40, 40)


# --- the table -----------------------------------------------------------------------------------
def test_evaluate_methods_table_baselines_and_files(tmp_path):
    model, images, labels, boxes = trained_shapes()
    images, boxes = images[:6], boxes[:6]
    report = evaluate_methods(model, images, lambda m: {"gradcam": GradCAM(m, "last_conv")},
                              boxes=boxes, steps=8, randomisation_stages=2, output_dir=tmp_path)
    np.testing.assert_array_equal(report.classes, model.predict(images, verbose=0).argmax(axis=1))
    rows = {row["method"]: row for row in report.rows}
    assert list(rows) == ["gradcam", "random", "edges"]
    for row in rows.values():
        assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1
        assert 0 <= row["pointing_game"] <= 1 and row["seconds_per_image"] > 0
    assert rows["edges"]["randomisation_spearman"] == pytest.approx(1.0)
    assert abs(rows["random"]["randomisation_spearman"]) < 0.2
    assert rows["gradcam"]["pointing_game"] > rows["random"]["pointing_game"]
    assert report.randomisation.stages == ["logits", "conv2d"]
    names = {p.name for p in report.written}
    assert names == {"evaluation.csv", "evaluation.md", "deletion.png", "insertion.png",
                     "randomisation.png", "randomisation_maps.png"}
    assert all(p.stat().st_size > 0 for p in report.written)
    table = (tmp_path / "evaluation.md").read_text()
    assert "| gradcam |" in table and "| edges |" in table
    assert (tmp_path / "evaluation.csv").read_text().splitlines()[0].startswith("method,deletion_auc")


def test_evaluate_methods_without_boxes_or_randomisation():
    model = tiny_model()
    images = np.random.default_rng(4).uniform(size=(3, 6, 6, 3)).astype(np.float32)
    report = evaluate_methods(model, images, lambda m: {"saliency": VanillaGradient(m)}, classes=[2, 1, 0],
                              baselines=False, steps=4, randomisation_stages=0)
    assert report.methods == ["saliency"] and report.randomisation is None
    assert np.isnan(report.rows[0]["pointing_game"]) and np.isnan(report.rows[0]["randomisation_spearman"])
    assert "| saliency | " in report.format_table()


@pytest.mark.slow
def test_evaluate_folder_loads_builds_with_the_layer_and_reports_bad_files(tmp_path):
    import cv2

    from utilities.explain.folder import ExplainSetupError
    from utilities.explain.metrics.folder import evaluate_folder
    from utilities.explain.registry import explainer_factory
    model, images, _, _ = trained_shapes()
    for i in range(3):
        pixels = (images[i] * 255).round().astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"shape{i}.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    lines = []
    report = evaluate_folder(tmp_path, model, preprocess=lambda x: x / 255.0, input_size=40,
                             layer="last_conv", methods=["saliency", "guided_gradcam"], steps=4,
                             randomisation_stages=1, output_dir=tmp_path / "out", echo=lines.append)
    assert any(line.startswith("FAILED broken.png") for line in lines)
    assert report.methods == ["saliency", "guided_gradcam", "random", "edges"]
    np.testing.assert_array_equal(report.classes, model.predict(images[:3], verbose=0).argmax(axis=1))
    assert (tmp_path / "out" / "evaluation.md").exists()
    built = explainer_factory(["guided_gradcam", "scorecam"], None, "last_conv", 4)(model)
    assert built["guided_gradcam"].layer == "last_conv" and built["scorecam"].layer == "last_conv"
    with pytest.raises(ExplainSetupError, match="unknown method"):
        explainer_factory(["lime"], None, None, 4)
