"""The shared archive reader: traversal, links, bombs and corrupt streams refused, nothing partial."""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from utilities.common.archives import ArchiveError, extract_zip, read_tar_members, read_zip_member


def make_tgz(path, members, *, link=False):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("photos/link.jpg")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return path


def test_tar_members_read_with_odd_names_and_links_skipped(tmp_path):
    archive = make_tgz(tmp_path / "a.tgz", {"photos/a.jpg": b"A" * 100, "photos/../b.jpg": b"B",
                                            "/abs.jpg": b"C", "other/c.jpg": b"D"}, link=True)
    found = read_tar_members(archive, lambda name: name.endswith(".jpg"))
    assert found == {"photos/a.jpg": b"A" * 100, "other/c.jpg": b"D"}


def test_a_corrupt_gzip_stream_refuses_the_whole_archive(tmp_path):
    archive = make_tgz(tmp_path / "a.tgz", {f"photos/{i}.jpg": bytes([i]) * 5000 for i in range(20)})
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF          # a broken block in the middle
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        read_tar_members(archive, lambda name: True)
    archive.write_bytes(bytes(data[: len(data) - 6]))   # and a truncated one (the CRC trailer cut)
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        read_tar_members(archive, lambda name: True)


def test_a_flipped_crc_is_caught_after_the_last_member(tmp_path):
    archive = make_tgz(tmp_path / "a.tgz", {"photos/a.jpg": b"A" * 100})
    data = bytearray(archive.read_bytes())
    data[-8] ^= 0xFF                       # gzip's CRC32 of the whole stream
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        read_tar_members(archive, lambda name: True)


def test_tar_size_limits(tmp_path):
    archive = make_tgz(tmp_path / "a.tgz", {"a.bin": b"x" * 3000, "b.bin": b"y" * 3000})
    with pytest.raises(ArchiveError, match="'a.bin' is 0 MB, over the 0 MB limit"):
        read_tar_members(archive, lambda name: True, max_member_bytes=2000)
    with pytest.raises(ArchiveError, match="unpack to over"):
        read_tar_members(archive, lambda name: True, max_total_bytes=5000)


def make_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_bomb_refused_before_writing(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {f"zeros{i}.bin": bytes(4 << 20) for i in range(4)})
    assert archive.stat().st_size < 200_000          # 16 MB of zeros in a few kB
    with pytest.raises(ArchiveError, match="unpacks to 16 MB, over the 8 MB limit"):
        extract_zip(archive, tmp_path / "out", max_total_bytes=8 << 20)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ArchiveError, match="'zeros0.bin' is 4 MB, over the 1 MB limit"):
        extract_zip(archive, tmp_path / "out", max_member_bytes=1 << 20)


def test_zip_traversal_refused_and_good_zip_extracted(tmp_path):
    with pytest.raises(ArchiveError, match="refusing member '../evil.txt'"):
        extract_zip(make_zip(tmp_path / "evil.zip", {"../evil.txt": b"x"}), tmp_path / "out")
    good = make_zip(tmp_path / "good.zip", {"scene/a.jpg": b"abc", "scene/b.jpg": b"de"})
    out = extract_zip(good, tmp_path / "good")
    assert (out / "scene" / "a.jpg").read_bytes() == b"abc"


def test_read_zip_member_bounded(tmp_path):
    archive = make_zip(tmp_path / "w.whl", {"pkg/data.bin": b"z" * 1000})
    assert read_zip_member(archive, "pkg/data.bin") == b"z" * 1000
    with pytest.raises(ArchiveError, match="is 1000 bytes, more than the 10 allowed"):
        read_zip_member(archive, "pkg/data.bin", max_bytes=10)
    with pytest.raises(ArchiveError, match="has no pkg/other"):
        read_zip_member(archive, "pkg/other")
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        read_zip_member(tmp_path / "bad.whl", "x")
