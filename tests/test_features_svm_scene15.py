"""15 Scene: download from a loopback server, safe extraction, verification, the 100-per-class split."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.features_svm_data import SCENE_CLASSES, encode, write_scene_archive
from tests.loopback_server import Route, serve
from utilities.features_svm import scene15
from utilities.features_svm.errors import FeaturesSvmError

PATH = "/ponce_grp/data/scene_categories/scene_categories.zip"


def _archive(tmp_path: Path, name: str = "a.zip", **kwargs) -> tuple[bytes, int]:
    dest = tmp_path / name
    count = write_scene_archive(dest, **kwargs)
    return dest.read_bytes(), count


def test_classes_match_the_cli_and_the_real_archive():
    import features_svm

    assert scene15.CLASS_NAMES == SCENE_CLASSES
    assert features_svm.SCENE_URL == scene15.URL
    assert scene15.EXPECTED_IMAGES == 4485 and scene15.NUM_CLASSES == 15


def test_download_extract_verify_split_and_reuse(tmp_path):
    body, count = _archive(tmp_path, per_class=4)
    data = tmp_path / "15scene"
    with serve({PATH: Route(body)}) as (base, hits):
        lists = scene15.write_lists(data, url=base + PATH, expected_images=count, train_per_class=3, seed=1,
                                    progress=False)
        again = scene15.write_lists(data, url=base + PATH, expected_images=count, train_per_class=3, seed=1,
                                    progress=False)
    assert hits[PATH] == 1, "a verified folder is reused without the network"
    assert lists.class_names == tuple(sorted(SCENE_CLASSES)) == again.class_names
    train = lists.train.read_text().splitlines()
    test = lists.test.read_text().splitlines()
    assert len(train) == 15 * 3 and len(test) == 15 * 1
    assert not set(train) & set(test)
    for line in train + test:
        path, label = line.rsplit(" ", 1)
        assert path.startswith("images/") and (data / path).is_file()
        assert path.split("/")[1] == lists.class_names[int(label)]
    assert not list(data.glob(".images.*")) and not list(data.glob("*.part"))
    other = scene15.split_lists(data / "images", train_per_class=3, seed=2)[0]
    assert {str(p) for p, _ in other} != {str(data / t.rsplit(" ", 1)[0]) for t in train}, "the seed draws"


def test_nested_folder_and_presplit_layouts(tmp_path):
    archive = tmp_path / "nested.zip"
    count = write_scene_archive(archive, per_class=2, prefix="scene_categories/")
    (tmp_path / "a").mkdir()
    archive.rename(tmp_path / "a" / scene15.ARCHIVE_NAME)
    lists = scene15.write_lists(tmp_path / "a", url="http://127.0.0.1:9/unused", expected_images=count,
                                train_per_class=1, progress=False)
    assert len(lists.test.read_text().splitlines()) == 15
    presplit = tmp_path / "b" / "images"
    for split, n in (("train", 2), ("test", 1)):
        for name in SCENE_CLASSES:
            folder = presplit / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}.jpg").write_bytes(b"x")
    train, test, names = scene15.split_lists(presplit, train_per_class=100, seed=0)
    assert (len(train), len(test), len(names)) == (30, 15, 15)


def test_offline_error_names_the_url_and_the_path(tmp_path):
    data = tmp_path / "15scene"
    with serve({}) as (base, _):
        with pytest.raises(FeaturesSvmError) as info:
            scene15.prepare(data, url=base + PATH, progress=False)
    message = str(info.value)
    assert base + PATH in message and str((data / scene15.ARCHIVE_NAME).resolve()) in message
    assert "\n" not in message
    assert not data.exists() or not any(data.iterdir()), "nothing half-written"


@pytest.mark.parametrize("member, reason", [("../evil.jpg", "outside"), ("/abs.jpg", "absolute")])
def test_path_traversal_is_refused(tmp_path, member, reason):
    body, count = _archive(tmp_path, per_class=2, extra={member: b"owned"})
    data = tmp_path / "deep" / "15scene"
    with serve({PATH: Route(body)}) as (base, _):
        with pytest.raises(FeaturesSvmError, match=reason):
            scene15.prepare(data, url=base + PATH, expected_images=count, progress=False)
    assert not (tmp_path / "deep" / "evil.jpg").exists() and not Path("/abs.jpg").exists()
    assert not (data / "images").exists() and not list(data.glob(".images.*"))


def test_wrong_archives_are_reported(tmp_path):
    fourteen = tmp_path / "14.zip"
    write_scene_archive(fourteen, per_class=2, classes=SCENE_CLASSES[:14])
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    short, _ = _archive(tmp_path, "short.zip", per_class=2)
    cases = [(fourteen.read_bytes(), None, "15 class folders"), (corrupt.read_bytes(), None, "not a readable zip"),
             (short, 4485, "expected 4485 images")]
    for i, (body, expected, message) in enumerate(cases):
        with serve({PATH: Route(body)}) as (base, _):
            with pytest.raises(FeaturesSvmError, match=message) as info:
                scene15.prepare(tmp_path / f"d{i}", url=base + PATH, expected_images=expected, progress=False)
        assert "delete it and run again" in str(info.value)
        assert not (tmp_path / f"d{i}" / "images").exists()


def test_crc_errors_are_caught(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("bedroom/image_0001.png", encode(np.zeros((8, 8), np.uint8), "png"))
    raw = bytearray(good.read_bytes())
    at = raw.index(b"\x89PNG") + 20
    raw[at] ^= 0xFF
    bad = tmp_path / "d" / scene15.ARCHIVE_NAME
    bad.parent.mkdir()
    bad.write_bytes(bytes(raw))
    with pytest.raises(FeaturesSvmError, match="CRC"):
        scene15.prepare(bad.parent, url="http://127.0.0.1:9/x", expected_images=None, progress=False)


def test_too_few_images_for_the_training_split(tmp_path):
    body, count = _archive(tmp_path, per_class=2)
    with serve({PATH: Route(body)}) as (base, _):
        with pytest.raises(FeaturesSvmError, match="--train-per-class 100"):
            scene15.write_lists(tmp_path / "d", url=base + PATH, expected_images=count, progress=False)


def test_links_are_refused(tmp_path):
    import stat

    archive = tmp_path / "d" / scene15.ARCHIVE_NAME
    archive.parent.mkdir()
    write_scene_archive(archive, per_class=1)
    with zipfile.ZipFile(archive, "a") as zf:
        link = zipfile.ZipInfo("bedroom/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(FeaturesSvmError, match="link or special file"):
        scene15.prepare(archive.parent, url="http://127.0.0.1:9/x", expected_images=None, progress=False)
