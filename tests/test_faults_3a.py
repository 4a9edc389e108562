"""assignment_3a.py against hostile inputs and faults (issue 24 cases 11 and 16, issue 23's NaN advice).

- case 16: every validation image unreadable: one line (exit 1, as an all-unreadable training
  list), never "validation loss 0.0000 acc 0.000" over 0 images, nothing checkpointed;
- issue 23: after a NaN stop the advice judges the newest checkpoint by its validation loss, not
  only by finiteness: a checkpoint whose loss already exploded is not recommended;
- case 11: --logdir / --checkpoint-dir a file, read-only or full: one line naming the flag
  before any work; a full disk while TensorBoard or the explanations are written: one line.
"""
from __future__ import annotations

import math

import tensorflow as tf

import assignment_3a
from tests.tiny_imagenet import write_photo
from utilities.finetune.training import NonFiniteLossError, resume_advice


def _lists(tmp_path, *, val_readable: bool):
    images = tmp_path / "images"
    images.mkdir()
    train, val = [], []
    for i in range(6):
        train.append(f"images/{write_photo(images / f't{i}.jpg', i).name} {i % 3}")
    for i in range(3):
        path = images / f"v{i}.jpg"
        if val_readable:
            write_photo(path, 100 + i)
        else:
            path.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
        val.append(f"images/{path.name} {i % 3}")
    (tmp_path / "train.txt").write_text("\n".join(train) + "\n")
    (tmp_path / "val.txt").write_text("\n".join(val) + "\n")


def _args(tmp_path, *extra):
    return ["--weights", "random", "--train-list", str(tmp_path / "train.txt"),
            "--val-list", str(tmp_path / "val.txt"), "--num-classes", "3", "--batch-size", "3",
            "--epochs", "2", "--logdir", str(tmp_path / "logs"), "--checkpoint-dir", str(tmp_path / "ckpt"),
            "--run-name", "r", "--no-progress", "--explain-every", "0", "--cache-features", "off", *extra]


# --- case 16 -----------------------------------------------------------------------------------
def test_every_validation_image_unreadable_is_one_line_and_nothing_is_saved(tmp_path, capsys):
    _lists(tmp_path, val_readable=False)
    code = assignment_3a.main(_args(tmp_path))
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == assignment_3a.EXIT_ERROR
    assert err[-1].startswith(f"error: no readable validation image in {tmp_path / 'val.txt'}")
    assert "all 3 listed" in err[-1] and "Traceback" not in captured.err
    assert "validation loss" not in captured.out and "acc 0.000" not in captured.out
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "r")) is None
    assert not (tmp_path / "ckpt" / "r" / "final.weights.h5").exists()


# --- issue 23: the NaN advice ------------------------------------------------------------------
def _history(*losses):
    return [{"epoch": i + 1, "val_loss": loss} for i, loss in enumerate(losses)]


def test_a_sane_newest_checkpoint_is_recommended():
    advice = resume_advice(_history(1.2, 0.9, 1.1), 3, num_classes=8)
    assert advice.startswith("--resume continues from the checkpoint of epoch 3 (validation loss 1.1;")
    assert "best 0.9 at epoch 2" in advice


def test_an_exploded_but_finite_newest_checkpoint_is_not_recommended():
    # the observed run: epoch 1 at 1.2e32, NaN in epoch 2
    advice = resume_advice(_history(1.2e32), 1, num_classes=8)
    assert "do not --resume" in advice and "epoch 1, had already diverged (validation loss 1.2e+32" in advice
    assert "start again without --resume" in advice and "which is finite" not in advice
    assert "no epoch had a sane validation loss" in advice
    # diverged after healthy epochs: the last sane one is named, and the advice is still to start again
    advice = resume_advice(_history(1.5, 0.8, 40.0), 3, num_classes=8)
    assert "epoch 3, had already diverged (validation loss 40" in advice
    assert "the last sane one was epoch 2 (validation loss 0.8)" in advice and "start again" in advice


def test_the_limit_is_a_factor_of_the_best_or_of_chance_level():
    chance = math.log(8)
    assert resume_advice(_history(0.5, 3 * chance - 0.01), 2, 8).startswith("--resume continues")
    assert "do not --resume" in resume_advice(_history(0.5, 3 * chance + 0.01), 2, 8)
    assert "do not --resume" in resume_advice(_history(0.5, float("inf")), 2, 8)
    assert resume_advice([], 0, 8) == "no epoch was saved: start again without --resume"
    assert "which is finite" in resume_advice([], 2, 8)      # an old run.json without history


def test_the_error_keeps_its_first_part_when_judged():
    error = NonFiniteLossError(7, 1, "loss is nan", 0.5).judged(_history(1.2e32), 8)
    message = str(error)
    assert message.startswith("loss is nan at step 7 (epoch 2); training stopped")
    assert "lower --learning-rate (now 0.5, e.g. 0.05)" in message and "do not --resume" in message
    assert "\n" not in message


def test_a_best_epoch_that_exploded_does_not_make_itself_sane():
    chance = math.log(3)
    assert resume_advice(_history(10 * chance - 0.01), 1, 3).startswith("--resume continues")
    assert "do not --resume" in resume_advice(_history(10 * chance + 0.01), 1, 3)
