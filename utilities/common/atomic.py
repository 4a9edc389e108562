"""Atomic file writes: readers see the old file or the complete new one, never half of it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is renamed over `dest`.

    Usage: `with atomic_path("out.png") as tmp: fig.savefig(tmp)`. The temporary name keeps
    the suffix so libraries that pick a format by extension still work. On error the
    temporary file is removed and `dest` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Keep every suffix: Keras insists on names ending in ".weights.h5".
    suffix = "".join(dest.suffixes[-2:]) if dest.name.endswith(".weights.h5") else dest.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[: len(dest.name) - len(suffix)]}.", suffix=suffix,
                               dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a plain open() would honour the umask
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(dest: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)
    return Path(dest)
