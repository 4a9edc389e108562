"""Fault injection: what a hostile user or a full disk does, and the behaviour we promise.

Kept together so the failure paths stay right: NaN epochs are never saved, a full disk leaves
the previous checkpoint in charge, unreadable data and bad flags stop with one line, files keep
the user's umask, broken links are reported. (Already covered elsewhere and still true:
kill + --resume equals an uninterrupted run, tests/test_assignment_3a.py; malicious pickles,
tests/test_models.py; path traversal in the CSV, tests/test_download_wikiart.py.)
"""
from __future__ import annotations

import json
import os
import stat

import keras
import numpy as np
import pytest
import tensorflow as tf

import assignment_3a
import assignment_3b
import models
from tests.fixtures_training import build_tiny_model, image_set  # noqa: F401
from tests.test_training import ArrayData, counters, separable_arrays
from tests.tiny_imagenet import write_photo
from utilities.common.atomic import write_text_atomic
from utilities.explain.plotting import MAX_FIGURE_CLASSES, FigureContent, Prediction, explanation_figure
from utilities.finetune.checkpointing import CheckpointError, TrainingCheckpoint, write_run_info
from utilities.finetune.training import NonFiniteLossError, NoTrainingDataError, StepRunner, fit


# --- 3a: nothing unhealthy is ever saved ---------------------------------------------------------
def diverging_runner(explode_at_step: int):
    """A tiny runner whose update at `explode_at_step` leaves an infinite weight, as a too-high
    learning rate does; the loss of every step is still finite when it is checked (before the update)."""
    model = build_tiny_model()
    models.set_trainable(model, ["classifier"])
    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.01), num_classes=3)
    original = runner.train_step

    def train_step(batch, spec, *, display=False):
        result = original(batch, spec, display=display)
        if int(runner.optimizer.iterations.numpy()) == explode_at_step + 1:
            model.get_layer("classifier").bias.assign([np.inf, 0.0, 0.0])
        return result

    runner.train_step = train_step
    return runner


def test_an_epoch_that_ends_with_exploded_weights_is_not_saved():
    images, labels = separable_arrays(8)
    runner = diverging_runner(explode_at_step=0)        # the last (only) step of epoch 1
    step, epoch = counters()
    saved = []
    with pytest.raises(NonFiniteLossError) as caught:
        fit(runner, ArrayData(images, labels, 8), epochs=3, display_step=3, step=step, epoch=epoch,
            on_epoch_end=saved.append)
    assert saved == [] and int(epoch.numpy()) == 0
    message = str(caught.value)
    assert message.startswith("the trained weights are not finite at step 1 (epoch 1)")
    assert message.endswith("no epoch was saved: start again without --resume")


def test_the_advice_names_the_last_healthy_epoch():
    images, labels = separable_arrays(8)
    runner = diverging_runner(explode_at_step=1)        # epoch 2's step
    step, epoch = counters()
    saved = []
    with pytest.raises(NonFiniteLossError, match="checkpoint of epoch 1, which is finite"):
        fit(runner, ArrayData(images, labels, 8), epochs=3, display_step=3, step=step, epoch=epoch,
            on_epoch_end=saved.append)
    assert [r.epoch for r in saved] == [1]


def test_run_json_stays_strict_json(tmp_path):
    write_run_info(tmp_path, {"history": [{"val_loss": float("nan"), "train_loss": float("inf"), "epoch": 1}]})
    info = json.loads((tmp_path / "run.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert info["history"][0] == {"val_loss": None, "train_loss": None, "epoch": 1}


def test_an_epoch_without_any_readable_image_is_an_error():
    images, labels = separable_arrays(8)
    model = build_tiny_model()
    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.01), num_classes=3)
    step, epoch = counters()
    with pytest.raises(NoTrainingDataError, match="no readable training image"):
        fit(runner, ArrayData(images[:0], labels[:0], 8, val=(images, labels)), epochs=1, display_step=3,
            step=step, epoch=epoch)


def test_every_training_image_unreadable_exits_1_and_writes_nothing(tmp_path, capsys):
    broken = tmp_path / "images"
    broken.mkdir()
    lines = []
    for i in range(4):
        (broken / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
        lines.append(f"images/{i}.jpg {i % 3}")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines) + "\n")
    code = assignment_3a.main(["--weights", "random", "--train-list", str(tmp_path / "train.txt"),
                               "--val-list", str(tmp_path / "test.txt"), "--num-classes", "3", "--batch-size", "2",
                               "--epochs", "2", "--logdir", str(tmp_path / "logs"), "--checkpoint-dir",
                               str(tmp_path / "ckpt"), "--run-name", "empty", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: no readable training image") and "all 4 listed" in err[-1]
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "empty")) is None
    assert not (tmp_path / "ckpt" / "empty" / "final.weights.h5").exists()


# --- 3a: a full disk while checkpointing ---------------------------------------------------------
def test_disk_full_on_save_is_one_line_and_the_previous_checkpoint_stays(tmp_path, monkeypatch):
    model = build_tiny_model()
    models.set_trainable(model, ["fc7", "classifier"])
    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    checkpoint = TrainingCheckpoint(tmp_path / "run", trained={"fc7": model.get_layer("fc7")}, optimizer=optimizer)
    checkpoint.epoch.assign(1)
    first = checkpoint.save()
    checkpoint.epoch.assign(2)

    def full_disk(checkpoint_number):
        partial = tmp_path / "run" / f"ckpt-{checkpoint_number}_temp"
        partial.mkdir()
        (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 100)
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(checkpoint.manager, "save", full_disk)
    with pytest.raises(CheckpointError) as caught:
        checkpoint.save()
    message = str(caught.value)
    assert "cannot write the checkpoint of epoch 2" in message and "No space left on device" in message
    assert "MB are free" in message and "ckpt-1, still in charge" in message and "\n" not in message
    assert not list((tmp_path / "run").glob("*_temp*"))
    assert tf.train.latest_checkpoint(str(tmp_path / "run")) == first


# --- files keep the user's umask -----------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = write_text_atomic(tmp_path / "out.txt", "hello")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode and path.read_text() == "hello"


# --- 3b: flags and folders ------------------------------------------------------------------------
def test_top_k_beyond_the_classes_is_an_error(tiny_cli, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photo(folder / "a.png", 0)
    assert assignment_3b.main([str(folder), "--top-k", "5000", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --top-k 5000 is more than the model's 1000 classes"
    assert not (tmp_path / "out").exists()


def test_many_classes_make_a_figure_of_sensible_size():
    k = 40
    maps = np.random.default_rng(0).uniform(0, 1, (k, 16, 16)).astype(np.float32)
    content = FigureContent("x.png", np.zeros((16, 16, 3), np.float32), np.zeros((20, 30, 3), np.float32),
                            (2, 7, 16), [Prediction(i, f"c{i}", 1.0 / k) for i in range(k)],
                            class_maps={"Grad-CAM": maps})
    fig = explanation_figure(content)
    assert fig.get_size_inches()[1] <= 2.5 * MAX_FIGURE_CLASSES + 1
    assert f"top {MAX_FIGURE_CLASSES} of {k} drawn" in fig._suptitle.get_text()


def test_output_dir_that_is_a_file_fails_before_any_work(tiny_cli, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photo(folder / "a.png", 0)
    target = tmp_path / "results"
    target.write_text("I am a file")
    monkeypatch.setattr(models, "build_model", lambda *a, **k: pytest.fail("built a model first"))
    assert assignment_3b.main([str(folder), "--output-dir", str(target), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --output-dir {target} is a file, not a folder; choose another path"
    assert target.read_text() == "I am a file"


def test_broken_links_are_reported_not_dropped(tiny_cli, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photo(folder / "a.png", 0)
    (folder / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    out = tmp_path / "out"
    assert assignment_3b.main([str(folder), "--output-dir", str(out), "--no-progress"]) == 1
    assert "FAILED gone.jpg: broken symbolic link" in capsys.readouterr().out
    assert "gone.jpg,\"broken symbolic link" in (out / "failed.csv").read_text()
    only_link = tmp_path / "links"
    only_link.mkdir()
    (only_link / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    assert assignment_3b.main([str(only_link), "--output-dir", str(tmp_path / "out2"), "--no-progress"]) == 1


def test_3a_reports_a_truncated_jpeg_once_without_libjpeg_noise(image_set, tmp_path, alexnet_npy):  # noqa: F811
    import subprocess
    import sys
    from pathlib import Path

    images = Path(image_set.train_list).parent / "images"
    good = sorted(images.glob("train_*.jpg"))[:4]
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[0].read_bytes()[: good[0].stat().st_size * 2 // 3])
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p} {i % 3}\n" for i, p in enumerate(good)) + f"{truncated} 1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_VERBOSE")}
    result = subprocess.run(
        [sys.executable, "assignment_3a.py", "--weights", str(alexnet_npy), "--train-list", str(listing),
         "--val-list", str(listing), "--num-classes", "3", "--batch-size", "4", "--epochs", "1", "--no-progress",
         "--explain-every", "0", "--logdir", str(tmp_path / "logs"), "--checkpoint-dir", str(tmp_path / "ckpt")],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Skipped unreadable images: 1 training, 1 validation" in result.stdout
    assert "Premature end of JPEG data" not in result.stderr, result.stderr[-2000:]

