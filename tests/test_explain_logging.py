"""assignment_3a.py --explain-every / --explain-images: explanations in TensorBoard during fine-tuning.

The runs use the generated colour dataset (tests/fixtures_training.py) and a tiny AlexNet-shaped
network in place of AlexNet (same CLI, same experiment, same feature cache): what is checked is
what reaches the event files, and that the logged maps are the explanation methods' own.
"""
from __future__ import annotations

import dataclasses
import gc
import glob
import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import assignment_3a
import models
from tests.fixtures_training import (  # noqa: F401
    NUM_CLASSES,
    TINY_SIZE,
    build_tiny_model,
    image_set,
    read_events,
    tiny_preprocess,
)
from utilities.explain.gradcam import GradCAM
from utilities.explain.saliency import VanillaGradient
from utilities.finetune.explain_logging import (
    MOVED_TAG,
    PANELS,
    WRITER_NAME,
    ExplanationProbe,
    load_explanation_images,
    mass_moved,
    stratified_order,
    tag_slug,
)
from utilities.finetune.explain_schedule import AUTO, AUTO_BUDGET, ExplainSchedule, parse_every
from utilities.finetune.training_data import read_labelled_list

STEPS_PER_EPOCH = 3  # 24 readable training images, batch 8


@pytest.fixture
def tiny_alexnet(monkeypatch):
    """assignment_3a with AlexNet replaced by the tiny model (Grad-CAM on its conv layer)."""
    spec = dataclasses.replace(models.get_spec("alexnet"), input_size=TINY_SIZE, preprocess=tiny_preprocess,
                               gradcam_layer="conv1")
    monkeypatch.setattr(models, "get_spec", lambda name, weights=None: spec)
    monkeypatch.setattr(models, "build_model", lambda name, weights, num_classes=3, dropout=0.5, **_:
                        build_tiny_model(num_classes, dropout=dropout))
    yield
    keras.backend.clear_session()
    gc.collect()


def run_3a(image_set, tmp_path, *extra):  # noqa: F811
    return assignment_3a.main(["--train-list", str(image_set.train_list), "--val-list", str(image_set.val_list),
                               "--num-classes", "3", "--batch-size", "8", "--logdir", str(tmp_path / "logs"),
                               "--checkpoint-dir", str(tmp_path / "ckpt"), "--no-progress", "--seed", "0",
                               "--learning-rate", "0.05", *extra])


def explanation_events(run_dir) -> dict[str, dict[int, object]]:
    """{tag: {step: value}} of the explanations writer, restart markers applied as TensorBoard does."""
    accumulator = EventAccumulator(str(run_dir / WRITER_NAME), size_guidance={"tensors": 0, "images": 0})
    accumulator.Reload()
    found = {}
    for tag in accumulator.Tags()["tensors"]:
        found[tag] = {e.step: e.tensor_proto for e in accumulator.Tensors(tag)}
    return found


def test_stratified_order_is_balanced_seeded_and_complete():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 6)
    order = stratified_order(labels, seed=3)
    assert sorted(order) == list(range(len(labels)))
    assert sorted(labels[order[:3]]) == [0, 1, 2]                  # any prefix covers the classes it can
    assert np.bincount(labels[order[:9]]).tolist() == [3, 3, 3]
    np.testing.assert_array_equal(order, stratified_order(labels, seed=3))
    assert not np.array_equal(order, stratified_order(labels, seed=4))


def test_explanation_images_skip_unreadable_and_follow_the_order(image_set, tmp_path):  # noqa: F811
    listed = read_labelled_list(image_set.train_list, NUM_CLASSES)   # holds one corrupt file
    corrupt = listed.paths.index(str(image_set.corrupt))
    chosen = load_explanation_images(listed, len(listed), TINY_SIZE, seed=1)
    assert len(chosen) == len(listed) - 1 and corrupt not in chosen.indices
    few = load_explanation_images(listed, 6, TINY_SIZE, seed=1)
    assert np.bincount(few.labels, minlength=3).tolist() == [2, 2, 2]
    assert list(few.labels) == sorted(few.labels) and few.images.shape == (6, TINY_SIZE, TINY_SIZE, 3)
    assert 0 <= few.images.min() and few.images.max() <= 255 and few.images.std() > 10


def test_probe_maps_are_the_methods_own():
    """One compiled call gives exactly what GradCAM and VanillaGradient give for (true, predicted)."""
    model = build_tiny_model()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 1], np.int32)
    probe = ExplanationProbe(model, tiny_preprocess, "conv1", images.shape[1:], len(images))
    maps = probe(images, labels)
    probe(images[::-1].copy(), labels)
    assert probe.tracing_count() == 1
    predicted = np.argmax(model(tiny_preprocess(images)).numpy(), axis=1)
    np.testing.assert_array_equal(maps.classes, np.stack([labels, predicted], axis=1))
    expected_cam = GradCAM(model, "conv1", preprocess=tiny_preprocess).explain(images, maps.classes).maps
    expected_saliency = VanillaGradient(model, preprocess=tiny_preprocess).explain(images, maps.classes).maps
    np.testing.assert_allclose(maps.gradcam, expected_cam, rtol=1e-4, atol=1e-6 * expected_cam.max())
    np.testing.assert_allclose(maps.saliency, expected_saliency, rtol=1e-4, atol=1e-6 * expected_saliency.max())
    assert maps.gradcam.shape == (4, 2, 7, 7) and maps.saliency.shape == (4, 2, TINY_SIZE, TINY_SIZE)


def test_mass_moved():
    a = np.zeros((2, 4, 4))
    a[0, 0, 0] = a[1, :2] = 1
    b = np.zeros((2, 4, 4))
    b[0, 3, 3] = 5
    b[1, :2] = 3   # the same distribution as a[1], scaled
    np.testing.assert_allclose(mass_moved(a, b), [1.0, 0.0])
    np.testing.assert_allclose(mass_moved(np.zeros((4, 4)), np.ones((4, 4))), 0.0)   # all-zero = uniform
    assert tag_slug("Art Nouveau (Modern)") == "art_nouveau_modern"


def test_a_run_logs_explanation_images_and_scalars(image_set, tmp_path, tiny_alexnet, capsys):  # noqa: F811
    """The issue's check: a 3a run on generated data shows the overlays and scalars in TensorBoard."""
    assert run_3a(image_set, tmp_path, "--epochs", "2", "--explain-every", "1", "--explain-images", "4",
                  "--run-name", "run") == 0
    out = capsys.readouterr().out
    assert "Explanations: 4 validation images, every 1 epoch(s): after epochs 1, 2" in out and "cached" in out
    run_dir = tmp_path / "logs" / "run"
    steps = [0, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]   # before training, then after each validation
    events = explanation_events(run_dir)
    image_tags = sorted(t for t in events if t.startswith("explanations/"))
    # 4 of 9 validation images, stratified: every class, one twice; tags are <nn>_<true class>
    assert [t.split("/")[1][:3] for t in image_tags] == ["00_", "01_", "02_", "03_"]
    assert {t.split("_", 1)[1] for t in image_tags} == {"class_0", "class_1", "class_2"}
    for tag in image_tags:
        assert sorted(events[tag]) == steps, tag
        width, height, png = (events[tag][0].string_val[i] for i in range(3))
        picture = np.asarray(Image.open(io.BytesIO(png)))
        assert picture.shape == (int(height), int(width), 3)
        assert picture.shape[1] == len(PANELS) * TINY_SIZE + 2 * (len(PANELS) - 1)
        first_panel = picture[-TINY_SIZE:, :TINY_SIZE].astype(float)
        assert first_panel.std() > 10                                # the painting itself, not a blank
    for kind in ("deletion_auc", "insertion_auc"):
        values = {s: float(tf.make_ndarray(v)) for s, v in events[f"{kind}/gradcam"].items()}
        assert sorted(values) == steps and all(0.0 <= v <= 1.0 for v in values.values())
    moved = {s: float(tf.make_ndarray(v)) for s, v in events[MOVED_TAG].items()}
    assert sorted(moved) == steps[1:]                                # needs a previous epoch
    assert all(0.0 <= v <= 1.0 for v in moved.values()) and max(moved.values()) > 0
    assert sorted(events["explanation_seconds"]) == steps
    # the Images tab lists them (the image plugin reads the same records)
    assert WRITER_NAME in {p.split("/")[-2] for p in glob.glob(str(run_dir / "*" / "events.*"))}
    # the run's other logs are untouched: validation holds what it always held
    assert set(read_events(run_dir)["validation"]) == {"cross_entropy", "accuracy", "confusion_matrix"}


def test_explain_every_and_off(image_set, tmp_path, tiny_alexnet, capsys):  # noqa: F811
    assert run_3a(image_set, tmp_path, "--epochs", "2", "--explain-every", "2", "--explain-images", "2",
                  "--run-name", "every2") == 0
    events = explanation_events(tmp_path / "logs" / "every2")
    assert "Explanations: 2 validation images, every 2 epoch(s): after epochs 2" in capsys.readouterr().out
    assert sorted(events["deletion_auc/gradcam"]) == [0, 2 * STEPS_PER_EPOCH]
    assert len([t for t in events if t.startswith("explanations/")]) == 2
    assert run_3a(image_set, tmp_path, "--epochs", "1", "--explain-every", "0", "--run-name", "off") == 0
    assert not (tmp_path / "logs" / "off" / WRITER_NAME).exists()
    assert "Explanations:" not in capsys.readouterr().out
    for flag, value, message in (("--explain-every", "-1", "--explain-every must be 'auto' or a number of epochs >= 0"),
                                 ("--explain-every", "often", "--explain-every must be 'auto' or a number"),
                                 ("--explain-images", "0", "--explain-images must be >= 1")):
        assert run_3a(image_set, tmp_path, flag, value) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_resumed_run_continues_the_explanations(image_set, tmp_path, tiny_alexnet, capsys):  # noqa: F811
    """A resume recomputes the last maps (for `mass moved`) without logging them twice."""
    # --explain-every 1: auto makes the calls before training and after a resume only when they fit its
    # budget (tests/test_finetune_explain_schedule.py); here every call is wanted
    assert run_3a(image_set, tmp_path, "--epochs", "1", "--explain-images", "3", "--run-name", "r",
                  "--explain-every", "1") == 0
    assert run_3a(image_set, tmp_path, "--epochs", "2", "--explain-images", "3", "--run-name", "r",
                  "--resume", "--explain-every", "1") == 0
    events = explanation_events(tmp_path / "logs" / "r")
    assert sorted(events["deletion_auc/gradcam"]) == [0, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert sorted(events[MOVED_TAG]) == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    raw_steps = [int(e.step) for path in glob.glob(str(tmp_path / "logs" / "r" / WRITER_NAME / "events.*"))
                 for e in tf.compat.v1.train.summary_iterator(path)
                 for v in e.summary.value if v.tag == "deletion_auc/gradcam"]
    assert sorted(raw_steps) == [0, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]   # nothing logged twice


@pytest.mark.slow
def test_alexnet_run_explains_conv5(image_set, tmp_path, alexnet_npy, capsys):  # noqa: F811
    """The real AlexNet (synthetic weights, feature cache on): 227-pixel panels, Grad-CAM on conv5."""
    code = assignment_3a.main(["--weights", str(alexnet_npy), "--train-list", str(image_set.train_list),
                               "--val-list", str(image_set.val_list), "--num-classes", "3", "--batch-size", "8",
                               "--epochs", "2", "--logdir", str(tmp_path / "logs"), "--checkpoint-dir",
                               str(tmp_path / "ckpt"), "--run-name", "alex", "--no-progress", "--explain-images", "3",
                               "--explain-every", "1"])
    assert code == 0, capsys.readouterr().err
    events = explanation_events(tmp_path / "logs" / "alex")
    tags = sorted(t for t in events if t.startswith("explanations/"))
    assert len(tags) == 3 and sorted(events[tags[0]]) == [0, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    width = int(events[tags[0]][0].string_val[0])
    assert width == len(PANELS) * 227 + 2 * (len(PANELS) - 1)
    assert sorted(events[MOVED_TAG]) == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]


def test_schedule_every_n_and_always_the_last_epoch():
    schedule = ExplainSchedule(3, last_epoch=7)
    assert [e for e in range(1, 8) if schedule.due(e)] == [3, 6, 7]
    assert parse_every("AUTO") == AUTO and parse_every("4") == 4 and parse_every(0) == 0
    for bad in ("-2", "sometimes", "1.5"):
        with pytest.raises(ValueError, match="--explain-every must be 'auto' or a number of epochs"):
            parse_every(bad)


def test_auto_schedule_keeps_explanations_within_the_budget():
    """Epochs of 10 s, calls of 2 s: within 5 % (the last epoch's call reserved) means one call per 40 s
    of training after the first two."""
    schedule = ExplainSchedule(AUTO, last_epoch=30)
    schedule.record_call(2.0)                              # before training (step 0)
    for epoch in range(1, 31):
        schedule.record_training(10.0)
        if schedule.due(epoch):
            schedule.record_call(2.0)
            schedule.explained_epochs.append(epoch)
    assert schedule.explained_epochs == [12, 16, 20, 24, 28, 30]
    # the whole run, the forced calls included, stays within the budget
    assert schedule.explaining_seconds <= AUTO_BUDGET * schedule.training_seconds
    assert "auto (within 5% of the training time" in schedule.describe() and "12, 16, 20" in schedule.describe()
    cheap = ExplainSchedule(AUTO, last_epoch=5)            # a GPU: calls cost milliseconds
    cheap.record_call(0.01)
    for epoch in range(1, 6):
        cheap.record_training(10.0)
        assert cheap.due(epoch)
        cheap.record_call(0.01)


def test_auto_is_the_default_and_explains_after_the_last_epoch(
        image_set, tmp_path, tiny_alexnet, capsys):  # noqa: F811
    """The maps before training only when they fit the budget (the report says which), the last epoch's always."""
    assert run_3a(image_set, tmp_path, "--epochs", "2", "--explain-images", "2", "--run-name", "auto") == 0
    out = capsys.readouterr().out
    assert "Explanations: 2 validation images, auto (within 5% of the training time" in out
    events = explanation_events(tmp_path / "logs" / "auto")
    steps = sorted(events["explanation_seconds"])
    assert steps[-1] == 2 * STEPS_PER_EPOCH
    assert (len(events["explanation_seconds"]) == 2) == ("before training (made at the first call" in out), out
    assert (len(events["explanation_seconds"]) == 1) == ("the maps before training were skipped" in out), out
    # the curves of the last call only when they fit (a run this short: rarely), and the report says so
    curves = 2 * STEPS_PER_EPOCH in events.get("deletion_auc/gradcam", [])
    assert curves == ("without the deletion/insertion curves after epoch(s) 2" not in out), out
