"""The tf.data pipeline on generated images in several formats, with broken files among them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tests.wikiart_examples import load_examples
from utilities.wikiart import dataset as ds_mod
from utilities.wikiart.dataset import (
    DecodeStats,
    ListFileError,
    MissingListError,
    epoch_plan,
    find_unreadable,
    make_dataset,
    read_image_list,
)

SIZE = 16
MEAN_BGR = np.array([104.0, 117.0, 124.0], np.float32)


def _caffe_like(images: tf.Tensor) -> tf.Tensor:
    """Stand-in for spec.preprocess: RGB -> BGR minus mean."""
    return images[..., ::-1] - MEAN_BGR


def _picture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth BGR picture (JPEG-friendly) with an asymmetric gradient so flips show."""
    small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    picture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int32)
    picture[:, : width // 3] //= 3  # dark left third
    return picture.astype(np.uint8)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    """images/ with one file per format plus three broken ones, and a list naming them all."""
    root = tmp_path_factory.mktemp("set")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    entries = []

    def add(name: str, data: bytes, label: int):
        (images / name).write_bytes(data)
        entries.append((f"images/{name}", label))

    for i, (name, ext, kind) in enumerate([
        ("photo.jpg", ".jpg", "bgr"), ("upscaled.jpg", ".jpg", "small"),
        ("lossless.png", ".png", "bgr"), ("gray.png", ".png", "gray"),
        ("alpha.png", ".png", "bgra"), ("bitmap.bmp", ".bmp", "bgr"),
        ("gray.bmp", ".bmp", "gray"), ("anim.gif", ".gif", "bgr"),
        ("png-named.jpg", ".png", "bgr"),
    ]):
        picture = _picture(rng, 24, 32) if kind != "small" else _picture(rng, 9, 11)
        if kind == "gray":
            picture = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
        if kind == "bgra":
            alpha = rng.integers(0, 256, picture.shape[:2], dtype=np.uint8)
            picture = np.dstack([picture, alpha])
        add(name, cv2.imencode(ext, picture)[1].tobytes(), i % 3)
        if name == "photo.jpg":
            full = (images / name).read_bytes()
    add("truncated.jpg", full[: len(full) // 2], 1)
    add("page.jpg", b"<html>not an image</html>", 2)
    entries.append(("images/deleted.jpg", 0))
    lines = ["# written by the test", ""] + [f"{path} {label}" for path, label in entries]
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


GOOD = 9      # readable images in the list
BROKEN = 3    # truncated, html, missing


def _reference(path: str, size: int) -> np.ndarray:
    """What the original did: cv2.imread (BGR) + cv2.resize bilinear, shown as RGB."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)[..., ::-1]


def test_read_list_resolves_paths_relative_to_the_list(image_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    image_list = read_image_list(image_dir / "list.txt")
    assert len(image_list) == GOOD + BROKEN and image_list.missing == 1
    assert image_list.paths[0] == str((image_dir / "images" / "photo.jpg").resolve())
    assert image_list.labels.dtype == np.int32 and image_list.num_classes == 3


def test_every_format_decodes_like_cv2_imread_and_resize(image_dir):
    examples = load_examples(image_dir / "list.txt", image_size=SIZE)
    image_list = read_image_list(image_dir / "list.txt")
    assert examples.images.shape == (GOOD, SIZE, SIZE, 3) and examples.images.dtype == np.uint8
    assert examples.indices.tolist() == list(range(GOOD))
    assert examples.labels.tolist() == image_list.labels[:GOOD].tolist()
    for image, index in zip(examples.images, examples.indices, strict=True):
        expected = _reference(image_list.paths[index], SIZE).astype(int)
        difference = np.abs(image.astype(int) - expected)
        assert difference.max() <= 1, image_list.paths[index]  # cv2 resizes in fixed point
        assert difference.mean() < 0.3, image_list.paths[index]
    gray = examples.images[3]
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])


def test_broken_files_are_skipped_named_and_counted(image_dir):
    examples = load_examples(image_dir / "list.txt", image_size=SIZE)
    reasons = {Path(path).name: reason for path, reason in examples.skipped}
    assert sorted(reasons) == ["deleted.jpg", "page.jpg", "truncated.jpg"]
    assert "No such file" in reasons["deleted.jpg"]
    assert "Unknown image file format" in reasons["page.jpg"]
    assert "JPEG" in reasons["truncated.jpg"]
    assert examples.skipped_indices.tolist() == [GOOD, GOOD + 1, GOOD + 2]
    assert sorted(Path(p).name for p, _ in find_unreadable(image_dir / "list.txt")) == \
        sorted(reasons)

    stats = DecodeStats()
    for _ in range(2):  # counts accumulate over passes until reset
        batches = list(make_dataset(image_dir / "list.txt", image_size=SIZE, batch_size=4,
                                    training=True, stats=stats))
    assert sum(len(labels) for _, labels in batches) == GOOD
    assert (stats.attempted, stats.decoded, stats.skipped) == (2 * (GOOD + BROKEN), 2 * GOOD,
                                                               2 * BROKEN)
    stats.reset()
    assert stats.attempted == 0


def test_validation_covers_every_image_in_order_with_a_partial_batch(image_dir):
    examples = load_examples(image_dir / "list.txt", image_size=SIZE)
    batches = list(make_dataset(image_dir / "list.txt", image_size=SIZE, batch_size=4,
                                preprocess=_caffe_like, with_index=True))
    assert [len(b[1]) for b in batches] == [4, 4, 1]
    images = np.concatenate([b[0].numpy() for b in batches])
    indices = np.concatenate([b[2].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.dtype == np.float32 and labels.dtype == np.int32 and indices.dtype == np.int64
    assert indices.tolist() == examples.indices.tolist()  # no shuffle, nothing dropped
    expected = examples.images.astype(np.float32)[..., ::-1] - MEAN_BGR  # no flip
    np.testing.assert_array_equal(images, expected)
    # the autotuner stays off: it competed with the model for the cores (wikiart.dataset.without_autotune)
    assert make_dataset(image_dir / "list.txt", image_size=SIZE).options().autotune.enabled is False


def test_training_shuffles_and_flips_by_the_epoch_plan(image_dir):
    examples = load_examples(image_dir / "list.txt", image_size=SIZE)
    listed = GOOD + BROKEN

    def run(seed, epoch):
        batches = list(make_dataset(image_dir / "list.txt", image_size=SIZE, batch_size=5,
                                    training=True, seed=seed, epoch=epoch, with_index=True))
        return (np.concatenate([b[0].numpy() for b in batches]).astype(np.uint8),
                np.concatenate([b[2].numpy() for b in batches]))

    images, indices = run(seed=3, epoch=1)
    plan = epoch_plan(listed, seed=3, epoch=1).without(examples.skipped_indices)
    assert indices.tolist() == plan.order.tolist() != sorted(plan.order.tolist())
    flips = plan.flipped[indices]
    assert 0 < flips.sum() < len(flips)  # both kinds occur for this seed
    for image, index, flipped in zip(images, indices, flips, strict=True):
        reference = examples.images[index]
        np.testing.assert_array_equal(image, reference[:, ::-1] if flipped else reference)

    again_images, again_indices = run(seed=3, epoch=1)
    np.testing.assert_array_equal(again_images, images)
    assert run(seed=3, epoch=2)[1].tolist() != indices.tolist()

    plain = list(make_dataset(image_dir / "list.txt", image_size=SIZE, batch_size=5,
                              training=True, shuffle=False, flip=False))
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in plain]),
                                  examples.images.astype(np.float32))


def test_rectangular_size_and_drop_remainder(image_dir):
    data = make_dataset(image_dir / "list.txt", image_size=(10, 12), batch_size=4,
                        drop_remainder=True)
    assert data.element_spec[0].shape.as_list() == [4, 10, 12, 3]
    assert [len(labels) for _, labels in data] == [4, 4]


def test_clear_errors_for_missing_and_malformed_lists(image_dir, tmp_path):
    with pytest.raises(MissingListError, match="download_wikiart.py"):
        make_dataset(tmp_path / "train.txt", image_size=SIZE)
    bad = tmp_path / "bad.txt"
    bad.write_text("images/a.jpg 1\n\nimages/b.jpg one\n")
    with pytest.raises(ListFileError, match=r"bad\.txt:3: expected"):
        read_image_list(bad)
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        make_dataset(image_dir / "list.txt", image_size=0)
    gone = tmp_path / "gone.txt"
    gone.write_text("images/a.jpg 1\nimages/b.jpg 2\n")
    with pytest.raises(ListFileError, match="none of its 2 images exist.*download_wikiart"):
        read_image_list(gone)


def test_check_command_reports_counts_and_bad_files(image_dir, capsys):
    assert ds_mod.main([str(image_dir / "list.txt")]) == 0
    out = capsys.readouterr().out
    assert f"{GOOD + BROKEN} images, {BROKEN} unreadable" in out
    assert "unreadable: " in out and "page.jpg" in out
