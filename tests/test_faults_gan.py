"""gan.py against the hostile probe (issue 24): runs never replaced or mixed, output folders, full disks.

- case 2: a finished run's folder (its --run-name, or the default one reached with other learning
  rates) is refused without --resume / --overwrite, untouched; --overwrite starts it over;
- case 3: a second run into a folder another run is writing refuses with one line (the lock of
  utilities.common.run_folder), the first run finishes untouched;
- case 11: --results-dir / --logdir / --classifier-dir a file, unwritable or with no free space:
  one line naming the flag, exit 2, before any work; a disk that fills up during the run: one
  line, exit 1, nothing half-written (no temporary files, no partial checkpoint), and --resume
  finishes the run once there is space. With real tmpfs mounts where the test may mount them
  (root), else with the OSError / TensorFlow error a full disk raises.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

import gan
from tests.gan_judge import judge_dir
from utilities.common import output_paths
from utilities.common.run_checkpoint import RunCheckpoint
from utilities.gan.history import History
from utilities.gan.progress import ProgressRecord
from utilities.gan.tb import GanBoard

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--width", "4", "--latent-dim", "8", "--batch-size", "128", "--eval-samples", "100", "--no-progress"]


def _run(argv, tmp_path, *, results=None, logs=None):
    """gan.main in this process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    base = ["--results-dir", str(results or tmp_path / "results"), "--logdir", str(logs or tmp_path / "logs"),
            "--classifier-dir", str(judge_dir())]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gan.main([*base, *TINY, *argv])
    return code, out.getvalue(), err.getvalue()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _metrics_epochs(run: Path) -> list[int]:
    with (run / "metrics.csv").open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _leftovers(*folders: Path) -> list[str]:
    """Temporary files of atomic writes and partial TensorFlow checkpoints."""
    found = []
    for folder in folders:
        found += [str(p) for p in folder.rglob(".*") if p.name != ".lock"]
        found += [str(p) for p in folder.rglob("*_temp*")]
    return found


# --- case 2 (and issue 23): a finished run is never replaced ------------------------------------------
def test_a_finished_run_is_refused_without_resume_or_overwrite(tmp_path):
    assert _run(["--epochs", "1"], tmp_path)[0] == 0
    run, tb = tmp_path / "results" / "dcgan_digits", tmp_path / "logs" / "dcgan_digits"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    events = sorted(tb.glob("events.out.tfevents.*"))

    # Other learning rates, no --run-name: the default folder holds a run -> refused, untouched.
    code, out, err = _run(["--epochs", "1", "--lr-d", "1e-3"], tmp_path)
    line = _one_line(err)
    assert code == 2 and "already holds a run" in line and "--resume" in line and "--overwrite" in line, err
    assert str(run) in line and "epoch" not in out
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"} == before
    assert json.loads((run / "checkpoints" / "run.json").read_text())["lr_d"] == 2e-4

    code, _, err = _run(["--epochs", "1", "--resume", "--overwrite"], tmp_path)
    assert code == 2 and "choose one" in _one_line(err)

    # --overwrite starts it over: the new settings, one epoch of metrics, the old TensorBoard events gone.
    code, out, err = _run(["--epochs", "1", "--lr-d", "1e-3", "--overwrite"], tmp_path)
    assert code == 0, err
    assert json.loads((run / "checkpoints" / "run.json").read_text())["lr_d"] == 1e-3
    assert _metrics_epochs(run) == [1]
    assert not set(events) & set(tb.glob("events.out.tfevents.*"))
    assert len(list((run / "checkpoints").glob("ckpt-*.index"))) == 1


def test_the_tensorboard_folder_of_a_run_is_claimed_too(tmp_path):
    """A new --results-dir, but --logdir/<run> holds another run's events: they would mix."""
    (tmp_path / "logs" / "a").mkdir(parents=True)
    (tmp_path / "logs" / "a" / "events.out.tfevents.1.host.1.v2").write_bytes(b"earlier run")
    code, out, err = _run(["--epochs", "1", "--run-name", "a"], tmp_path)
    line = _one_line(err)
    assert code == 2 and str(tmp_path / "logs" / "a") in line and "already holds a run" in line
    assert "epoch" not in out


# --- case 3: two runs into one folder at once -----------------------------------------------------
def test_a_second_run_into_a_folder_being_written_refuses(tmp_path, monkeypatch):
    """The second run starts while the first is between epochs (in this process: flock is per open file)."""
    second = {}
    original = History.add_epoch

    def add_epoch_and_start_another_run(self, epoch_row, step_rows):
        original(self, epoch_row, step_rows)
        if not second:
            for flags in ([], ["--resume"], ["--overwrite"]):
                second[tuple(flags)] = _run(["--epochs", "2", "--run-name", "busy", *flags], tmp_path)

    monkeypatch.setattr(History, "add_epoch", add_epoch_and_start_another_run)
    code, out, err = _run(["--epochs", "2", "--run-name", "busy"], tmp_path)
    assert code == 0, err
    assert len(second) == 3
    for flags, (code2, out2, err2) in second.items():
        line = _one_line(err2)
        # Plain: the folder already holds (the first epoch of) a run; --resume / --overwrite: the lock.
        says = "already holds a run" if not flags else f"being written by another run (process {os.getpid()})"
        assert code2 == 2 and says in line, (flags, err2)
        assert "epoch" not in out2
    assert _metrics_epochs(tmp_path / "results" / "busy") == [1, 2]   # the first run, whole


def test_a_run_held_by_another_process_refuses(tmp_path):
    run = tmp_path / "results" / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from utilities.common.run_folder import claim_run_folder\n"
         "with claim_run_folder(sys.argv[2]):\n    print('held', flush=True); time.sleep(120)", str(ROOT), str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = _run(["--epochs", "1", "--run-name", "held"], tmp_path)
        assert code == 2 and f"process {holder.pid}" in _one_line(err) and "epoch" not in out
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)


# --- case 11: output folders checked before any work ------------------------------------------------
@pytest.mark.parametrize("flag", ["--results-dir", "--logdir", "--classifier-dir"])
def test_an_output_folder_that_is_a_file(tmp_path, flag):
    (tmp_path / "file").write_text("x")
    code, out, err = _run([flag, str(tmp_path / "file" / "sub"), "--epochs", "1"], tmp_path)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"gan.py: {flag} ") and "is a file, not a folder" in line
    assert "epoch" not in out and not (tmp_path / "results" / "dcgan_digits").exists()


@pytest.mark.parametrize("flag", ["--results-dir", "--logdir"])
def test_an_unwritable_output_folder(tmp_path, monkeypatch, flag):
    target = tmp_path / "locked"
    target.mkdir()
    real = output_paths.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):   # root may write anywhere: refuse like a read-only folder
        if dir is not None and Path(dir) == target:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    judge_dir()   # trained before the patch
    monkeypatch.setattr(output_paths.tempfile, "mkstemp", mkstemp)
    code, out, err = _run([flag, str(target), "--epochs", "1"], tmp_path)
    line = _one_line(err)
    assert code == 2 and line.startswith(f"gan.py: {flag} ") and "Permission denied" in line and "epoch" not in out


def test_an_output_disk_without_free_space(tmp_path, monkeypatch):
    real = output_paths.shutil.disk_usage
    full = tmp_path / "full"

    def disk_usage(path):
        usage = real(path)
        return usage._replace(free=1 << 20) if Path(path) == full else usage

    monkeypatch.setattr(output_paths.shutil, "disk_usage", disk_usage)
    code, out, err = _run(["--logdir", str(full), "--epochs", "1"], tmp_path)
    line = _one_line(err)
    assert code == 2 and line.startswith("gan.py: --logdir ") and "only 1 MB free" in line and "epoch" not in out


# --- case 11: the disk fills up during the run ----------------------------------------------------
def _check_stopped_whole_then_resume(tmp_path, results, logs, err, code):
    """Exit 1 with one line; epoch 1's checkpoint in charge, every file whole; --resume finishes the run.

    metrics.csv and progress.npz are written just before the checkpoint, so they may hold epoch 2
    when only its checkpoint failed: --resume drops what lies past the checkpoint it continues from.
    """
    run = results / "dcgan_digits"
    line = _one_line(err)
    assert code == 1 and "is full" in line and "--resume" in line, err
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-1")
    assert _metrics_epochs(run) in ([1], [1, 2])
    assert ProgressRecord(run).load(10 ** 9).steps in ([10], [10, 20])   # 1347 // 128 steps an epoch
    assert not _leftovers(results, logs)
    code, out, err = _run(["--epochs", "3", "--resume"], tmp_path, results=results, logs=logs)
    assert code == 0 and "Resuming" in out and "after epoch 1" in out, err
    assert _metrics_epochs(run) == [1, 2, 3]
    assert ProgressRecord(run).load(10 ** 9).steps == [10, 20, 30]


def test_a_full_disk_during_the_run_stops_with_one_line(tmp_path, monkeypatch):
    """ENOSPC while epoch 2's progress rows are written: exit 1, epoch 1 kept whole, --resume finishes."""
    original = ProgressRecord.save

    def save(self):
        if len(self.steps) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self)

    monkeypatch.setattr(ProgressRecord, "save", save)
    code, _, err = _run(["--epochs", "3"], tmp_path)
    monkeypatch.setattr(ProgressRecord, "save", original)
    _check_stopped_whole_then_resume(tmp_path, tmp_path / "results", tmp_path / "logs", err, code)


def test_a_checkpoint_that_fails_to_write_leaves_no_partial_files(tmp_path, monkeypatch):
    """RunCheckpoint (shared): a failed save removes its ckpt-N_temp and the error goes on to the caller."""
    checkpoint = RunCheckpoint(tmp_path / "ck", {"a": 1}, weights=tf.Variable([1.0, 2.0]))
    checkpoint.start(resume=False)
    checkpoint.save(1)
    real_save = checkpoint.manager.save

    def save(checkpoint_number):
        partial = tmp_path / "ck" / f"ckpt-{checkpoint_number}_temp"
        partial.mkdir()
        (partial / "part-00000-of-00001.data-00000-of-00001.tempstate1").write_bytes(b"half")
        raise tf.errors.ResourceExhaustedError(None, None, f"{partial}; No space left on device")

    monkeypatch.setattr(checkpoint.manager, "save", save)
    with pytest.raises(tf.errors.ResourceExhaustedError):
        checkpoint.save(2)
    assert not list((tmp_path / "ck").glob("*_temp*"))
    monkeypatch.setattr(checkpoint.manager, "save", real_save)
    assert checkpoint.manager.latest_checkpoint.endswith("ckpt-1")


def test_real_read_only_and_small_disks_refused_before_work(tmp_path, tmpfs):
    read_only, small = tmpfs("ro", 1, read_only=True), tmpfs("small", 4)
    code, out, err = _run(["--results-dir", str(read_only / "r"), "--epochs", "1"], tmp_path)
    assert code == 2 and "--results-dir" in _one_line(err) and "Read-only file system" in err and "epoch" not in out
    code, out, err = _run(["--logdir", str(small), "--epochs", "1"], tmp_path)
    assert code == 2 and "--logdir" in _one_line(err) and "MB free" in err and "epoch" not in out


@pytest.mark.parametrize("when", ["checkpoint", "tensorboard"])
def test_a_real_disk_filling_up_during_the_run(tmp_path, tmpfs, monkeypatch, when):
    """A 20 MB tmpfs filled up (a ballast file) during epoch 2's checkpoint (TensorFlow's SaveV2 fails
    half-way) or before its TensorBoard events are flushed (the summary writer fails)."""
    disk = tmpfs("disk", 20)
    results, logs = disk / "results", disk / "logs"
    ballast = disk / "ballast"

    def fill(leave: int):
        if not ballast.exists():
            with contextlib.suppress(OSError), ballast.open("wb") as f:
                f.write(b"\0" * max(shutil.disk_usage(disk).free - leave, 0))

    if when == "checkpoint":   # room for part of the checkpoint (about 225 kB at these sizes)
        original = RunCheckpoint.save

        def save(self, epochs_done):
            if epochs_done == 2:
                fill(50_000)
            return original(self, epochs_done)
        monkeypatch.setattr(RunCheckpoint, "save", save)
    else:
        original = GanBoard.write_epoch

        def write_epoch(self, step_rows, grid, quality):
            if step_rows[-1]["epoch"] == 2:
                fill(0)
            return original(self, step_rows, grid, quality)
        monkeypatch.setattr(GanBoard, "write_epoch", write_epoch)
    code, _, err = _run(["--epochs", "3"], tmp_path, results=results, logs=logs)
    monkeypatch.undo()
    ballast.unlink()
    _check_stopped_whole_then_resume(tmp_path, results, logs, err, code)


def test_a_full_disk_when_the_comparison_is_drawn(tmp_path, monkeypatch):
    """--compare-lr: the pairs are finished when the table cannot be written; --resume only draws."""
    from utilities.gan import compare

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    argv = ["--compare-lr", "--lr-d-values", "2e-4", "--lr-g-values", "2e-4", "--epochs", "1"]
    monkeypatch.setattr(compare, "write_table", no_space)
    code, _, err = _run(argv, tmp_path)
    line = _one_line(err)
    assert code == 1 and "is full" in line and "--resume" in line
    monkeypatch.undo()
    folder = tmp_path / "results" / "dcgan_digits_lr"
    assert not (folder / "lr_table.csv").exists() and not _leftovers(folder)
    code, out, err = _run([*argv, "--resume"], tmp_path)
    assert code == 0 and "already has 1 epochs" in out, err
    assert (folder / "lr_table.csv").exists() and (folder / "lr_samples.png").exists()
