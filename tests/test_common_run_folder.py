"""The shared run-folder claim (lock + never replace without asking) and output-path checks."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from utilities.common.output_paths import OutputPathError, check_output_dir, check_output_file, disk_full_message
from utilities.common.run_folder import LOCK_NAME, RunFolderError, claim_run_folder, holds_a_run

ROOT = Path(__file__).resolve().parents[1]


def test_a_new_folder_is_created_locked_and_released(tmp_path):
    run = tmp_path / "runs" / "one"
    with claim_run_folder(run) as folder:
        assert folder == run and (run / LOCK_NAME).read_text() == str(os.getpid())
        with pytest.raises(RunFolderError, match=f"process {os.getpid()}") as info:   # a second claim waits for none
            with claim_run_folder(run, resume=True):
                pass
        assert len(str(info.value).splitlines()) == 1
    with claim_run_folder(run, resume=True):   # released: claimable again
        pass


def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    with claim_run_folder(run):
        (run / "metrics.csv").write_text("epoch\n1\n")
    assert holds_a_run(run)
    with pytest.raises(RunFolderError, match="already holds a run: add --resume .* --overwrite .* --run-name"):
        with claim_run_folder(run):
            pass
    for flags in ({"resume": True}, {"overwrite": True}):
        with claim_run_folder(run, **flags):
            pass
    assert (run / "metrics.csv").exists()   # the claim itself never deletes anything


def test_only_the_lock_file_is_not_a_run(tmp_path):
    run = tmp_path / "run"
    with claim_run_folder(run):
        pass
    assert not holds_a_run(run)
    with claim_run_folder(run):
        pass


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a run folder; .* --out"):
        with claim_run_folder(tmp_path / "run", flag="--out"):
            pass


def test_another_process_holds_the_lock_until_it_dies(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from utilities.common.run_folder import claim_run_folder\n"
         "with claim_run_folder(sys.argv[2]):\n    print('held', flush=True); time.sleep(60)", str(ROOT), str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderError, match=f"being written by another run \\(process {holder.pid}\\)"):
            with claim_run_folder(run, resume=True):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while True:   # the kernel drops a dead process's flock; no stale lock stays behind
        try:
            with claim_run_folder(run, resume=True):
                break
        except RunFolderError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_output_dir_created_and_checked(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b", "--results-dir") == tmp_path / "a" / "b"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match=r"^--results-dir .*: .*file is a file, not a folder"):
        check_output_dir(tmp_path / "file" / "sub", "--results-dir")
    with pytest.raises(OutputPathError, match=r"^--out .*: only \d+ MB free on that disk"):
        check_output_dir(tmp_path / "c", "--out", min_free=1 << 62)


def test_unwritable_output_dir_named_with_its_flag(tmp_path, monkeypatch):
    # Tests may run as root, for whom chmod does not forbid writing: make the probe fail instead.
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputPathError, match=r"^--logdir .*: cannot write there \(Permission denied\)"):
        check_output_dir(tmp_path, "--logdir")


def test_output_file_checks(tmp_path):
    assert check_output_file(tmp_path / "new" / "out.png", "-o") == tmp_path / "new" / "out.png"
    with pytest.raises(OutputPathError, match="^-o .*: is a folder; give a file name"):
        check_output_file(tmp_path, "-o")


def test_disk_full_message():
    assert "is full" in disk_full_message(OSError(errno.ENOSPC, "No space left on device"), "/x")
    assert disk_full_message(OSError(errno.ENOENT, "No such file"), "/x") is None
