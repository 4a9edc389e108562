"""Reading data-set archives safely: every member checked, sizes bounded, corrupt archives refused whole.

Archives come from the network or from users (15 Scene's zip, BSDS500's tgz, wheels). What can
go wrong, and what happens here instead:

- members named `../x`, `/etc/x`, `C:x`, links and devices -> refused (zip) or never read (tar);
- a zip bomb (3 GB of zeros in 3 MB) or one huge member -> refused before anything is written,
  from the sizes the archive declares, and again while copying, from the bytes actually read
  (headers can lie);
- a corrupt stream (bad CRC, a broken gzip block) -> ArchiveError for the whole archive, never
  a partial result that looks complete: `read_tar_members` reads to the end of the archive
  before returning anything.
"""
from __future__ import annotations

import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

MAX_MEMBER_BYTES = 256 << 20        # one image or data file
MAX_TOTAL_BYTES = 8 << 30           # a whole data set
CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The archive is corrupt, too large, or holds a member we refuse; str() is one line."""


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
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


def _copy_bounded(src, out, limit: int, what: str) -> int:
    copied = 0
    while block := src.read(CHUNK):
        copied += len(block)
        if copied > limit:
            raise ArchiveError(f"{what} holds more than the {limit >> 20} MB it may (the archive's header says less)")
        out.write(block)
    return copied


def extract_zip(archive: Path, dest: Path, *, max_member_bytes: int = MAX_MEMBER_BYTES,
                max_total_bytes: int = MAX_TOTAL_BYTES) -> Path:
    """Extract `archive` into the folder `dest` after checking every member's name, kind, size and CRC."""
    archive, dest = Path(archive), Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                problem = _zip_member_problem(info)
                if problem:
                    raise ArchiveError(f"{archive}: refusing member {info.filename!r} ({problem})")
                if info.file_size > max_member_bytes:
                    raise ArchiveError(f"{archive}: member {info.filename!r} is {info.file_size >> 20} MB, over the "
                                       f"{max_member_bytes >> 20} MB limit for one file")
            total = sum(info.file_size for info in members)
            if total > max_total_bytes:
                raise ArchiveError(f"{archive} unpacks to {total >> 20} MB, over the {max_total_bytes >> 20} MB "
                                   "limit; it is not the data set asked for")
            bad_crc = zf.testzip()
            if bad_crc is not None:
                raise ArchiveError(f"{archive}: member {bad_crc!r} is corrupt (CRC mismatch)")
            dest.mkdir(parents=True, exist_ok=True)
            root, written = dest.resolve(), 0
            for info in members:
                target = (root / info.filename.replace("\\", "/")).resolve()
                if root != target and root not in target.parents:  # belt and braces
                    raise ArchiveError(f"{archive}: refusing member {info.filename!r} (outside {dest})")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    written += _copy_bounded(src, out, min(max_member_bytes, max_total_bytes - written),
                                             f"{archive}: member {info.filename!r}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{archive}: not a readable zip archive ({exc})") from None
    return dest


def read_zip_member(archive: Path, member: str, *, max_bytes: int = MAX_MEMBER_BYTES) -> bytes:
    """One member's bytes, refusing more than `max_bytes` whatever the header says."""
    archive = Path(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            info = zf.getinfo(member)
            if info.file_size > max_bytes:
                raise ArchiveError(f"{archive.name}: {member} is {info.file_size} bytes, more than the "
                                   f"{max_bytes} allowed")
            with zf.open(info) as stream:
                data = stream.read(max_bytes + 1)
    except KeyError:
        raise ArchiveError(f"{archive.name} has no {member}") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{archive.name} is not a readable zip archive ({str(exc).splitlines()[0]})") from None
    if len(data) > max_bytes:
        raise ArchiveError(f"{archive.name}: {member} holds more than the {max_bytes} bytes allowed")
    return data


def plain_member_name(name: str) -> bool:
    """A relative name with no '..', no backslash and nothing to normalise away."""
    return (bool(name) and not name.startswith("/") and "\\" not in name
            and posixpath.normpath(name) == name and ".." not in name.split("/"))


def read_tar_members(archive: Path, accept: Callable[[str], bool], *, max_member_bytes: int = MAX_MEMBER_BYTES,
                     max_total_bytes: int = MAX_TOTAL_BYTES) -> dict[str, bytes]:
    """{name: bytes} of the regular files with plain names that `accept(name)`, read to the archive's end.

    Nothing is written to disk. Links, devices and odd names are skipped (never read); a member
    over `max_member_bytes` or a total over `max_total_bytes` is refused before it is read; a
    corrupt or truncated stream anywhere (even after the last accepted member) raises.
    """
    archive, found, total = Path(archive), {}, 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:   # streams: every block is decompressed and checked, to the end
                if not (member.isfile() and plain_member_name(member.name) and accept(member.name)):
                    continue
                if member.size > max_member_bytes:
                    raise ArchiveError(f"{archive}: member {member.name!r} is {member.size >> 20} MB, over the "
                                       f"{max_member_bytes >> 20} MB limit for one file")
                total += member.size
                if total > max_total_bytes:
                    raise ArchiveError(f"{archive}: the files read unpack to over {max_total_bytes >> 20} MB")
                found[member.name] = tar.extractfile(member).read()
            while tar.fileobj.read(CHUNK):   # to the end of the stream: gzip checks its CRC only there
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{archive} is corrupt or truncated ({str(exc).splitlines()[0] or type(exc).__name__})") \
            from None
    return found
