"""Downloading large files safely: progress bar, hash check, atomic rename.

`keras.utils.get_file` writes straight to the final path, so a killed download leaves a
half file that a later run (without a hash) happily uses. Here the bytes go to
`<dest>.part`, are checked (length, optional md5/sha256) and only then renamed into place,
so `dest` either does not exist or is complete.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed; the message says the URL and where to put the file by hand."""


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks so 500 MB weight files do not fill memory."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _hash_algorithm(expected: str) -> str:
    return {32: "md5", 40: "sha1", 64: "sha256"}.get(len(expected), "sha256")


def hash_matches(path: str | os.PathLike, expected: str | None) -> bool:
    """True when there is no expected hash or the file's md5/sha1/sha256 (by length) matches."""
    if not expected:
        return True
    return file_hash(path, _hash_algorithm(expected)) == expected.lower()


def _manual_hint(url: str, dest: Path) -> str:
    return f"download {url} by hand and save it as {dest.resolve()}"


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    file_hash: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
    description: str | None = None,
) -> Path:
    """Fetch `url` to `dest` atomically and return `dest`.

    An existing `dest` whose hash matches (or any existing `dest` when no hash is given) is
    reused without network access. `file_hash` may be md5, sha1 or sha256 hex (chosen by
    length). Any failure raises `DownloadError` naming the URL and the exact path to use
    for a manual download; no partial file is left at `dest`.
    """
    dest = Path(dest)
    expected = file_hash
    if dest.exists():
        if hash_matches(dest, expected):
            return dest
        # A stale or corrupt copy: replace it (the atomic rename below overwrites it).
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            received = 0
            with open(part, "wb") as out, tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=description or dest.name,
                disable=not progress,
            ) as bar:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        if total is not None and received != total:
            raise DownloadError(
                f"download of {url} was cut off ({received} of {total} bytes); "
                f"try again, or {_manual_hint(url, dest)}"
            )
        if not hash_matches(part, expected):
            raise DownloadError(
                f"{url} downloaded but its {_hash_algorithm(expected)} hash does not match "
                f"{expected}; the server may be serving a different file. "
                f"Try again later, or {_manual_hint(url, dest)}"
            )
        os.replace(part, dest)
        return dest
    except DownloadError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(
            f"could not download {url} ({reason}); {_manual_hint(url, dest)}"
        ) from exc
    finally:
        if part.exists():
            part.unlink()
