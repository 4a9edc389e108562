"""assignment_3a.py against hostile inputs and faults (issue 24 cases 11 and 16, issue 23's NaN advice).

- case 16: every validation image unreadable: one line (exit 1, as an all-unreadable training
  list), never "validation loss 0.0000 acc 0.000" over 0 images, nothing checkpointed;
- issue 23: after a NaN stop the advice judges the newest checkpoint by its validation loss, not
  only by finiteness: a checkpoint whose loss already exploded is not recommended;
- case 11: --logdir / --checkpoint-dir a file, read-only or full: one line naming the flag
  before any work; a full disk while TensorBoard or the explanations are written: one line.
"""
from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path

import pytest
import tensorflow as tf

import assignment_3a
from tests.tiny_imagenet import write_photo
from utilities.common import output_paths
from utilities.finetune.explain_logging import ExplanationLogger
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


# --- case 11: output folders checked before work; a disk that fills up during the run ------------
def _run_cli(tmp_path, capsys, *extra, logdir=None, checkpoint_dir=None):
    args = _args(tmp_path, *extra)
    if logdir is not None:
        args[args.index("--logdir") + 1] = str(logdir)
    if checkpoint_dir is not None:
        args[args.index("--checkpoint-dir") + 1] = str(checkpoint_dir)
    code = assignment_3a.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("flag", ["--logdir", "--checkpoint-dir"])
def test_an_output_folder_that_is_a_file_is_refused_before_work(tmp_path, capsys, flag):
    _lists(tmp_path, val_readable=True)
    (tmp_path / "a-file").write_text("not a folder")
    where = {"logdir" if flag == "--logdir" else "checkpoint_dir": tmp_path / "a-file" / "sub"}
    code, out, err = _run_cli(tmp_path, capsys, "--explain-every", "1", **where)
    line = _one_line(err)
    assert code == assignment_3a.EXIT_ERROR and line.startswith(f"error: {flag} ") and "is a file" in line
    assert "Training" not in out
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_an_output_disk_without_free_space_is_refused_before_work(tmp_path, capsys, monkeypatch):
    _lists(tmp_path, val_readable=True)
    real = output_paths.shutil.disk_usage
    full = tmp_path / "full"

    def disk_usage(path):
        usage = real(path)
        return usage._replace(free=1 << 20) if Path(path) == full else usage

    monkeypatch.setattr(output_paths.shutil, "disk_usage", disk_usage)
    code, out, err = _run_cli(tmp_path, capsys, logdir=full)
    line = _one_line(err)
    assert code == assignment_3a.EXIT_ERROR and line.startswith("error: --logdir") and "1 MB free" in line
    assert "Training" not in out


@pytest.mark.slow
def test_a_full_disk_while_explanations_are_written_is_one_line(tmp_path, capsys, monkeypatch):
    """The summary writer's error (what TensorFlow raises on ENOSPC) in epoch 2's explanations:
    exit 1, one line, epoch 1 stays checkpointed, and --resume finishes the run."""
    _lists(tmp_path, val_readable=True)
    original = ExplanationLogger.log
    calls = []

    def log(self, step, curves=True):
        calls.append(step)
        if len(calls) == 3:        # before fine-tuning, epoch 1, then epoch 2
            raise tf.errors.ResourceExhaustedError(None, None, f"{self.writer}: No space left on device")
        return original(self, step, curves)

    monkeypatch.setattr(ExplanationLogger, "log", log)
    code, out, err = _run_cli(tmp_path, capsys, "--explain-every", "1")
    line = _one_line(err)
    assert code == assignment_3a.EXIT_ERROR and "is full" in line and "--resume --run-name r" in line
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "r")).endswith("ckpt-1")
    assert not (tmp_path / "ckpt" / "r" / "final.weights.h5").exists()
    monkeypatch.setattr(ExplanationLogger, "log", original)
    code, out, err = _run_cli(tmp_path, capsys, "--explain-every", "1", "--resume", "--run-name", "r")
    assert code == 0 and "Resuming r" in out and "epoch 2/2" in out, err


def test_real_read_only_disks_refused_before_work(tmp_path, capsys, tmpfs):
    _lists(tmp_path, val_readable=True)
    read_only = tmpfs("ro", 1, read_only=True)
    for flag, where in (("--logdir", {"logdir": read_only / "logs"}),
                        ("--checkpoint-dir", {"checkpoint_dir": read_only / "ckpt"})):
        code, out, err = _run_cli(tmp_path, capsys, **where)
        line = _one_line(err)
        assert code == assignment_3a.EXIT_ERROR and line.startswith(f"error: {flag}"), line
        assert "Read-only file system" in line and "Training" not in out


@pytest.mark.slow
def test_a_real_disk_filling_up_while_explanations_are_written(tmp_path, capsys, tmpfs, monkeypatch):
    """--logdir on a 17 MB tmpfs filled up (a ballast file) before epoch 2's explanations are written."""
    _lists(tmp_path, val_readable=True)
    disk = tmpfs("disk", 17)
    ballast = disk / "ballast"
    original = ExplanationLogger.log
    calls = []

    def log(self, step, curves=True):
        calls.append(step)
        if len(calls) == 3 and not ballast.exists():
            with contextlib.suppress(OSError), ballast.open("wb") as f:
                f.write(b"\0" * shutil.disk_usage(disk).free)
        return original(self, step, curves)

    monkeypatch.setattr(ExplanationLogger, "log", log)
    code, out, err = _run_cli(tmp_path, capsys, "--explain-every", "1", logdir=disk / "logs")
    line = _one_line(err)
    assert code == assignment_3a.EXIT_ERROR and "is full" in line and "--resume --run-name r" in line
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "r")).endswith("ckpt-1")
    assert not (tmp_path / "ckpt" / "r" / "final.weights.h5").exists()
    print(line)   # (--resume afterwards: test_a_full_disk_while_explanations_are_written_is_one_line)
