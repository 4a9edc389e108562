"""assignment_3b.py against hostile file names (issue 24 case 8).

A file name that is not UTF-8 (Python keeps its bytes as lone surrogates) is an image like any
other: explained (or reported as unreadable) with U+FFFD replacement characters in the console,
the figure titles, index.html, predictions.csv and failed.csv; never a matplotlib TypeError that
aborts the whole folder.
"""
from __future__ import annotations

import csv
import os

import pytest

import assignment_3b
from tests.tiny_imagenet import write_photo
from utilities.explain.folder import output_stems
from utilities.explain.images import display_name

pytestmark = pytest.mark.skipif(os.name != "posix", reason="non-UTF-8 file names are a POSIX thing")


def test_display_name_replaces_what_is_not_utf8():
    assert display_name(os.fsdecode(b"caf\xe9.jpg")) == "caf\ufffd.jpg"
    assert display_name(b"caf\xe9.jpg") == "caf\ufffd.jpg"
    assert display_name("café.jpg") == "café.jpg"


def test_stems_are_text_and_stay_unique(tmp_path):
    names = [b"a\xe9.jpg", b"a\xe8.jpg", b"a\xe9.png", b"b.jpg"]
    paths = [tmp_path / os.fsdecode(n) for n in names]
    stems = output_stems(paths)
    assert len(set(stems.values())) == len(paths)
    for stem in stems.values():
        stem.encode("utf-8")        # no surrogates: writable into the page, the CSV, any locale
    assert stems[paths[3]] == "b"


def test_a_folder_with_non_utf8_names_is_explained_whole(tiny_cli, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photo(folder / "plain.png", 0)
    good = folder / os.fsdecode(b"caf\xe9.png")
    write_photo(folder / "tmp.png", 1).rename(good)       # cv2.imwrite crashes on such a name
    (folder / os.fsdecode(b"bro\xefken.jpg")).write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "out"
    code = assignment_3b.main([str(folder), "--output-dir", str(out), "--methods", "saliency,gradcam",
                               "--top-k", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err        # 1: one image failed, as for any name
    assert "caf\ufffd.png: " in captured.out and "FAILED bro\ufffdken.jpg" in captured.out
    with open(out / "predictions.csv", encoding="utf-8") as f:
        assert sorted(row["image"] for row in csv.DictReader(f)) == ["caf\ufffd.png", "plain.png"]
    with open(out / "failed.csv", encoding="utf-8") as f:
        assert [row["image"] for row in csv.DictReader(f)] == ["bro\ufffdken.jpg"]
    page = (out / "index.html").read_text(encoding="ascii")
    assert "caf&#65533;.png" in page and "caf%EF%BF%BD.png" in page and "bro&#65533;ken.jpg" in page
    assert (out / "caf\ufffd.png").is_file() and (out / "plain.png").is_file() and (out / "summary.png").is_file()
    assert (out / "maps" / "caf\ufffd" / "input.png").is_file()
    assert good.exists()                                    # the photo itself is untouched
