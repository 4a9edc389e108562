"""Safe zip extraction: no member may land outside the destination folder.

`zipfile.extractall` already strips ".." and absolute prefixes silently; we refuse such an
archive instead (a data set archive with those members is not the archive we asked for),
refuse links and special files, and check every member's CRC first (`testzip`).
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath


class ArchiveError(ValueError):
    """The archive is corrupt or contains a member we refuse to write."""


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (path.parts and ":" in path.parts[0]):
        return "absolute path"
    if ".." in path.parts:
        return "path outside the archive folder"
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip was not written on Unix
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "link or special file"
    return None


def extract_zip(archive: Path, dest: Path) -> Path:
    """Extract `archive` into the (new or empty) folder `dest` after checking every member."""
    try:
        with zipfile.ZipFile(archive) as zf:
            bad_crc = zf.testzip()
            if bad_crc is not None:
                raise ArchiveError(f"{archive}: member {bad_crc!r} is corrupt (CRC mismatch)")
            members = zf.infolist()
            for info in members:
                problem = _member_problem(info)
                if problem:
                    raise ArchiveError(f"{archive}: refusing member {info.filename!r} ({problem})")
            dest.mkdir(parents=True, exist_ok=True)
            root = dest.resolve()
            for info in members:
                target = (root / info.filename.replace("\\", "/")).resolve()
                if root != target and root not in target.parents:  # belt and braces
                    raise ArchiveError(f"{archive}: refusing member {info.filename!r} (outside {dest})")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ArchiveError(f"{archive}: not a readable zip archive ({exc})") from None
    return dest
