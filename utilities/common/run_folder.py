"""One run folder per training run: locked while a program writes it, never silently replaced.

Every program that trains (3a, autoencoder, DANN, GAN) writes a run folder (checkpoints,
metrics, figures). Two mistakes used to mix or destroy runs: starting a second run into the
folder of a finished one (its results were replaced without a word), and two processes
writing the same folder at once (the folder ended with half of each). `claim_run_folder`
refuses both with one line:

- the folder already holds a run (any file in it) and neither `--resume` nor `--overwrite`
  was given -> RunFolderError naming the folder and the three ways on;
- another process holds the folder's lock -> RunFolderError naming that process.

The lock is an advisory `flock` on `<folder>/.lock`, released by the kernel when the process
ends however it ends (kill -9 included), so a crashed run never leaves a stale lock behind.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


class RunFolderError(RuntimeError):
    """The run folder cannot be used; str() is one line saying why and what to do."""


def holds_a_run(folder: Path) -> bool:
    """Whether `folder` exists and holds anything but our lock file."""
    folder = Path(folder)
    return folder.is_dir() and any(entry.name != LOCK_NAME for entry in folder.iterdir())


def _lock(folder: Path):
    """An exclusive, non-blocking flock on folder/.lock: the open file, or RunFolderError if taken."""
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # kept open for the life of the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        owner = handle.read().strip()
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise RunFolderError(f"{folder} is being written by another run{f' (process {owner})' if owner else ''}; "
                                 "wait for it to finish, or choose another --run-name") from None
        raise RunFolderError(f"{folder}: cannot lock the run folder ({exc.strerror or exc})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


@contextlib.contextmanager
def claim_run_folder(folder: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
                     flag: str = "--run-name") -> Iterator[Path]:
    """Lock `folder` for this run (created if missing); refuse a folder that holds a run unless asked.

    `resume`: the caller continues the run in it; `overwrite`: the caller starts it over (what
    it replaces is the caller's business). `flag` names the option that picks the folder, for
    the message. Yields the folder; the lock is released when the block ends.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder} is a file, not a run folder; remove it or choose another {flag}")
    existing = holds_a_run(folder)
    if existing and not (resume or overwrite):
        raise RunFolderError(f"{folder} already holds a run: add --resume to continue it, --overwrite to start "
                             f"it over, or choose another {flag}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create the run folder {folder} ({exc.strerror or exc}); "
                             f"choose another {flag} or output folder") from None
    try:
        handle = _lock(folder)
    except PermissionError as exc:  # read-only folder: open() itself failed
        raise RunFolderError(f"cannot write in the run folder {folder} ({exc.strerror}); "
                             f"choose another {flag} or output folder") from None
    try:
        yield folder
    finally:
        handle.close()
