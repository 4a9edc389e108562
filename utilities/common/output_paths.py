"""Output folders and files checked before any work: one line naming the flag, never a traceback later.

A program that computes for minutes and then fails to write its result (the folder is a file,
read-only, or on a full disk) wastes the user's time; these checks run first. A full disk
during the run is still possible: `disk_full_message` turns that OSError into the same kind
of one-line message (the atomic writes of utilities.common.atomic leave nothing half-written).
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

MIN_FREE_BYTES = 16 << 20   # refuse to start with less free space than this in the output folder


class OutputPathError(ValueError):
    """An output folder or file cannot be written; str() is one line naming the flag."""


def _probe_writable(folder: Path, flag: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".write-test.", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"{flag} {folder}: cannot write there ({exc.strerror or exc}); "
                              "choose a writable folder") from None
    os.close(fd)
    os.unlink(name)


def check_output_dir(folder: str | os.PathLike, flag: str, *, min_free: int = MIN_FREE_BYTES) -> Path:
    """Create `folder` if needed and check it is a writable folder with some free space."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise OutputPathError(f"{flag} {folder}: {existing} is a file, not a folder; choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{flag} {folder}: cannot create the folder ({exc.strerror or exc}); "
                              "choose a writable folder") from None
    _probe_writable(folder, flag)
    free = shutil.disk_usage(folder).free
    if free < min_free:
        raise OutputPathError(f"{flag} {folder}: only {free >> 20} MB free on that disk; free some space "
                              "or choose another folder")
    return folder


def check_output_file(path: str | os.PathLike, flag: str, *, min_free: int = MIN_FREE_BYTES) -> Path:
    """Check that `path` can be written (its folder as check_output_dir; the path itself not a folder)."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{flag} {path}: is a folder; give a file name (e.g. {path / 'out.png'})")
    check_output_dir(path.parent, flag, min_free=min_free)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{flag} {path}: the file exists and is read-only; choose another name")
    return path


def disk_full_message(exc: OSError, where: str | os.PathLike) -> str | None:
    """One line for an OSError that means the disk is full (or over quota), else None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # os.strerror, not exc.strerror: h5py puts HDF5's whole multi-line report there
        return f"the disk holding {where} is full ({os.strerror(exc.errno)}); free some space and run again"
    return None


def refuse_existing(paths: Iterable[str | os.PathLike], *, flag: str = "--output-dir") -> None:
    """OutputPathError (one line) naming the first of `paths` that exists: a finished result is never
    replaced without --overwrite. Call it before the work that would write them."""
    for path in paths:
        if Path(path).exists():
            raise OutputPathError(f"{path} exists already: add --overwrite to replace it, or choose another {flag}")
