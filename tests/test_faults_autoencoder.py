"""autoencoder.py against hostile inputs and faults (issue 24 cases 10 and 11) and its run folders (issue 23).

- case 10: labels out of 0..9 in the files Keras caches (Fashion-MNIST's IDX files, MNIST's npz), or
  from any loader: one line when the data is read, before any training;
- case 11: --results-dir / --logdir a file, unwritable or on a full disk: one line naming the flag,
  exit 2, before the data is read; the disk filling up during the run: one line, exit 1, nothing
  half-written, and --resume continues;
- checkpoints every epoch: Ctrl-C leaves a resumable run (one line, exit 130), a resumed run sees
  the batches the uninterrupted one would have, a run folder is never replaced without --resume or
  --overwrite, and two processes never write one folder.
"""
from __future__ import annotations

import csv
import dataclasses
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import autoencoder as cli
from tests.digit_files import fashion_files, idx_gz_bytes
from utilities.autoencoder import experiment as ae_experiment
from utilities.autoencoder.experiment import save_weights
from utilities.common.output_paths import disk_full_message
from utilities.common.run_checkpoint import RunCheckpoint
from utilities.digits import DatasetUnavailable, load_image_set
from utilities.digits.keras_files import load_mnist

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "digits", "--filters", "4,8", "--batch-size", "64", "--samples", "40", "--no-progress"]


def _flags(tmp_path: Path, *extra: str) -> list[str]:
    return [*TINY, "--results-dir", str(tmp_path / "results"), "--logdir", str(tmp_path / "logs"), *extra]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("autoencoder.py: "), err
    return err


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _stray_files(run: Path) -> list[Path]:
    """Temporary names of atomic writes (".name.XXXX.ext") or TensorFlow's (*_temp*) left behind."""
    return [p for p in run.rglob("*") if p.name != ".lock" and (p.name.startswith(".") or "_temp" in p.name)]


# ---------------------------------------------------------------- case 10: labels out of 0..9


def test_fashion_labels_out_of_range_in_keras_cache_one_line_before_training(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    labels = np.arange(64) % 10
    labels[3] = 10
    for name, body in (fashion_files(64, 20) | {"train-labels-idx1-ubyte.gz": idx_gz_bytes(labels)}).items():
        (cache / name).write_bytes(body)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    code = cli.main(["--epochs", "1", "--filters", "4,8", "--batch-size", "16", "--samples", "20", "--no-progress",
                     "--results-dir", str(tmp_path / "results"), "--logdir", str(tmp_path / "logs")])
    err = _one_line(capsys)
    assert code == 2
    assert err == f"autoencoder.py: {cache / 'train-labels-idx1-ubyte.gz'}: label 10 at index 3, expected 0..9"
    assert not any((tmp_path / "results").iterdir())   # no run folder: nothing trained, nothing written


def test_mnist_npz_labels_and_shapes_checked_when_read(tmp_path):
    def npz(**changes):
        rng = np.random.default_rng(0)
        arrays = {"x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), "y_train": np.arange(30) % 10,
                  "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), "y_test": np.arange(10) % 10}
        buf = io.BytesIO()
        np.savez(buf, **(arrays | changes))
        (tmp_path / "mnist.npz").write_bytes(buf.getvalue())

    npz()
    assert load_mnist(cache=tmp_path, file_hash=None, progress=False).y_test.dtype == np.int64
    npz(y_test=np.array([0, 1, 2, 3, 4, 5, 6, 12, 8, 9], np.uint8))
    with pytest.raises(DatasetUnavailable, match=r"mnist\.npz: y_test: label 12 at index 7, expected 0\.\.9$"):
        load_mnist(cache=tmp_path, file_hash=None, progress=False)
    npz(y_train=np.arange(30) % 10 - 1)
    with pytest.raises(DatasetUnavailable, match=r"y_train: label -1 at index 0"):
        load_mnist(cache=tmp_path, file_hash=None, progress=False)
    npz(x_train=np.zeros((30, 32, 32), np.uint8))
    with pytest.raises(DatasetUnavailable, match=r"x_train of shape \(30, 32, 32\) with 30 labels"):
        load_mnist(cache=tmp_path, file_hash=None, progress=False)


def test_labels_from_any_loader_are_checked_before_training(tmp_path, monkeypatch, capsys):
    data = load_image_set("digits")
    bad = data.y_test.copy()
    bad[5] = 10
    monkeypatch.setattr(ae_experiment, "load_images", lambda dataset, data_dir=None: dataclasses.replace(
        data, y_test=bad, source="a loader"))
    assert cli.main(_flags(tmp_path, "--epochs", "1")) == 2
    assert _one_line(capsys) == ("autoencoder.py: a loader: the test images: label 10 at index 5, expected 0..9")
    assert not any((tmp_path / "results").iterdir())


# ---------------------------------------------------------------- case 11: output folders before any work


def _no_data(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data was read before the output folders were checked")
    monkeypatch.setattr(ae_experiment, "load_images", refuse)


def test_results_dir_that_is_a_file(tmp_path, monkeypatch, capsys):
    _no_data(monkeypatch)
    (tmp_path / "results").write_text("not a folder")
    assert cli.main(_flags(tmp_path)) == 2
    assert _one_line(capsys) == (f"autoencoder.py: --results-dir {tmp_path / 'results'}: {tmp_path / 'results'} "
                                 "is a file, not a folder; choose another path")


def test_logdir_under_a_file(tmp_path, monkeypatch, capsys):
    _no_data(monkeypatch)
    (tmp_path / "f").write_text("x")
    assert cli.main([*TINY, "--results-dir", str(tmp_path / "results"), "--logdir", str(tmp_path / "f" / "logs")]) == 2
    assert "--logdir " in _one_line(capsys)


def test_unwritable_logdir(tmp_path, monkeypatch, capsys):
    """Read-only: chmod does not stop root (tests may run as root), so the write probe is refused instead."""
    _no_data(monkeypatch)
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(tmp_path / "logs"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    assert cli.main(_flags(tmp_path)) == 2
    assert _one_line(capsys) == (f"autoencoder.py: --logdir {tmp_path / 'logs'}: cannot write there (Permission "
                                 "denied); choose a writable folder")


def test_full_disk_before_the_run(tmp_path, monkeypatch, capsys):
    _no_data(monkeypatch)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=3 << 20))
    assert cli.main(_flags(tmp_path)) == 2
    assert _one_line(capsys) == (f"autoencoder.py: --results-dir {tmp_path / 'results'}: only 3 MB free on that "
                                 "disk; free some space or choose another folder")


# ---------------------------------------------------------------- case 11: the disk fills up during the run


def test_disk_full_while_writing_the_history_then_resume(tmp_path, monkeypatch, capsys):
    real = ae_experiment.write_history

    def write_history(history, dest):
        if len(history["loss"]) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))
        return real(history, dest)

    monkeypatch.setattr(ae_experiment, "write_history", write_history)
    assert cli.main(_flags(tmp_path, "--epochs", "3")) == 1
    run = tmp_path / "results" / "cae_digits"
    assert _one_line(capsys) == (f"autoencoder.py: the disk holding {run} is full (No space left on device); free "
                                 "some space and run again; 1 finished epoch is checkpointed: add --resume to "
                                 "continue")
    assert [r["epoch"] for r in _history(run)] == ["1"] and not _stray_files(run)
    assert not (run / "autoencoder.weights.h5").exists()

    monkeypatch.setattr(ae_experiment, "write_history", real)   # space freed
    assert cli.main(_flags(tmp_path, "--epochs", "3", "--resume")) == 0
    assert [r["epoch"] for r in _history(run)] == ["1", "2", "3"] and (run / "comparison.csv").exists()


def test_disk_full_while_checkpointing(tmp_path, monkeypatch, capsys):
    """TensorFlow's checkpoint writer says ENOSPC as an OpError; the epoch it could not save is not counted."""
    real = RunCheckpoint.save

    def save(self, epochs_done):
        if epochs_done == 2:
            raise tf.errors.ResourceExhaustedError(None, None, "ckpt-2_temp/part-00000: No space left on device")
        return real(self, epochs_done)

    monkeypatch.setattr(RunCheckpoint, "save", save)
    assert cli.main(_flags(tmp_path, "--epochs", "3")) == 1
    run = tmp_path / "results" / "cae_digits"
    assert _one_line(capsys) == (f"autoencoder.py: the disk holding {run} is full (No space left on device); free "
                                 "some space and run again; 1 finished epoch is checkpointed: add --resume to "
                                 "continue")
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-1")


def test_weights_not_started_without_room(tmp_path, monkeypatch):
    """HDF5 failing half-way leaves h5py printing tracebacks (and crashing at exit): room is checked first."""
    from models.autoencoder import build_autoencoder
    net = build_autoencoder(filters=(4, 8))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=100_000))
    with pytest.raises(OSError) as info:
        save_weights(net.autoencoder, tmp_path / "autoencoder.weights.h5")
    assert info.value.errno == errno.ENOSPC and not any(tmp_path.iterdir())


def test_disk_full_message_is_one_line_whatever_the_library_put_in_strerror():
    """h5py's OSError for ENOSPC carries HDF5's whole multi-line report as its strerror."""
    h5py_like = OSError(errno.ENOSPC, "Can't synchronously write data (file write failed: time = ...\n, errno = 28, "
                                      "error message = 'No space left on device', ...)")
    assert disk_full_message(h5py_like, "/r") == ("the disk holding /r is full (No space left on device); free some "
                                                  "space and run again")


# ---------------------------------------------------------------- run folders: never replaced, resume exactly


def test_a_run_folder_is_never_replaced_without_resume_or_overwrite(tmp_path, capsys):
    assert cli.main(_flags(tmp_path, "--epochs", "2")) == 0
    run = tmp_path / "results" / "cae_digits"
    before = (run / "history.csv").read_text()
    capsys.readouterr()
    assert cli.main(_flags(tmp_path, "--epochs", "2", "--lr", "0.01")) == 2
    assert _one_line(capsys) == (f"autoencoder.py: {run} already holds a run: add --resume to continue it, "
                                 "--overwrite to start it over, or choose another --run-name")
    assert (run / "history.csv").read_text() == before
    assert cli.main(_flags(tmp_path, "--epochs", "3", "--resume", "--lr", "0.01")) == 2
    assert _one_line(capsys) == (f"autoencoder.py: --resume: the run in {run / 'checkpoints'} was started with other "
                                 "settings (lr: 0.001 -> 0.01); use the same flags, or --overwrite to start it over, "
                                 "or another --run-name")
    assert cli.main(_flags(tmp_path, "--resume", "--overwrite")) == 2
    assert "choose one" in _one_line(capsys)
    assert cli.main(_flags(tmp_path, "--epochs", "1", "--overwrite")) == 0
    assert "--overwrite: removed the earlier run's" in capsys.readouterr().out
    assert [r["epoch"] for r in _history(run)] == ["1"]
    assert [p.name for p in (run / "checkpoints").glob("ckpt-*.index")] == ["ckpt-1.index"]


def test_resume_without_a_checkpoint_says_how_to_start(tmp_path, capsys):
    assert cli.main(_flags(tmp_path, "--resume", "--run-name", "never")) == 2
    assert _one_line(capsys) == (f"autoencoder.py: --resume: no checkpoint in {tmp_path / 'results/never/checkpoints'}"
                                 "; --overwrite starts the run over, or choose another --run-name")


def test_a_resumed_run_trains_as_the_uninterrupted_one(tmp_path, capsys):
    """Epoch e's order and noise depend on (seed, e) only, Adam's state is in the checkpoint: 2 + 2 epochs = 4."""
    flags = ["--denoise", "0.5"]
    assert cli.main(_flags(tmp_path, *flags, "--epochs", "4", "--run-name", "whole")) == 0
    assert cli.main(_flags(tmp_path, *flags, "--epochs", "2", "--run-name", "parts")) == 0
    assert cli.main(_flags(tmp_path, *flags, "--epochs", "4", "--run-name", "parts", "--resume")) == 0
    out = capsys.readouterr().out
    assert "Resuming" in out and "after epoch 2 of 4" in out and "epoch 3/4" in out
    whole, parts = _history(tmp_path / "results" / "whole"), _history(tmp_path / "results" / "parts")
    assert [r["epoch"] for r in parts] == ["1", "2", "3", "4"]
    for a, b in zip(whole, parts, strict=True):
        for key in ("train_bce", "test_bce", "test_mse"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-3), (key, a, b)
    assert cli.main(_flags(tmp_path, *flags, "--epochs", "4", "--run-name", "parts", "--resume")) == 0
    assert "already has 4 epochs (--epochs 4); nothing to train" in capsys.readouterr().out


def test_pca_fit_test_fits_the_evaluated_points_and_says_so(tmp_path, monkeypatch, capsys):
    seen = []
    real = ae_experiment.fit_pca
    monkeypatch.setattr(ae_experiment, "fit_pca", lambda images, *a, **k: seen.append(len(images)) or real(
        images, *a, **k))
    assert cli.main(_flags(tmp_path, "--epochs", "1", "--pca-fit", "test")) == 0
    assert seen == [40]   # the --samples test images, not the 1,347 training digits
    with open(tmp_path / "results" / "cae_digits" / "comparison.csv", newline="") as f:
        assert [(r["method"], r["fitted_on"]) for r in csv.DictReader(f)] == [("CAE", "train"), ("PCA", "test")]
    assert "PCA fitted on the 40 evaluated test images (--pca-fit test)" in capsys.readouterr().out


# ---------------------------------------------------------------- Ctrl-C, kill, and a second process


def test_ctrl_c_after_an_epoch_leaves_a_resumable_run_and_the_folder_is_locked_meanwhile(tmp_path, capsys):
    flags = _flags(tmp_path, "--epochs", "400")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "autoencoder.py"), *flags], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "results" / "cae_digits"
    try:
        deadline = time.monotonic() + 300   # a loaded machine can take minutes to import and trace
        while not (run / "checkpoints" / "ckpt-1.index").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.1)
        # a second run into the same folder while the first writes it: refused, even with --resume
        assert cli.main([*flags, "--resume"]) == 2
        assert _one_line(capsys) == (f"autoencoder.py: {run} is being written by another run (process {proc.pid}); "
                                     "wait for it to finish, or choose another --run-name")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in err.splitlines() if line.startswith("autoencoder.py")]
    assert proc.returncode == 130 and len(lines) == 1, err
    assert lines[0].startswith("autoencoder.py: interrupted; ") and "of 400 epochs are checkpointed in" in lines[0]
    assert lines[0].endswith(": the same command with --resume continues")
    assert "Traceback" not in err and not _stray_files(run)
    done = int(tf.train.latest_checkpoint(str(run / "checkpoints")).rsplit("-", 1)[1])
    assert done >= 1
    assert cli.main([*TINY, "--results-dir", str(tmp_path / "results"), "--logdir", str(tmp_path / "logs"),
                     "--epochs", str(done + 1), "--resume"]) == 0
    assert [int(r["epoch"]) for r in _history(run)] == list(range(1, done + 2))
    assert (run / "autoencoder.weights.h5").exists()
