"""MNIST-M and its offline stand-in: the Ganin blend, the BSDS500 download (loopback), safe reading, the cache."""
from __future__ import annotations

import numpy as np
import pytest

from tests.domain_adaptation_bsr import OTHER_COLOUR, TRAIN_COLOURS, TRAIN_PHOTOS, bsr_archive_bytes, train_colour
from tests.loopback_server import Route, serve
from utilities.digits import ImageSet
from utilities.domain_adaptation.blend import blend_with_photos
from utilities.domain_adaptation.bsds import ARCHIVE_NAME, PhotosUnavailable, read_bsds_photos
from utilities.domain_adaptation.domains import blended_digits, channel_mean, network_input
from utilities.domain_adaptation.mnistm import CACHE_NAME, load_mnistm


def _fake_mnist(n_train: int = 12, n_test: int = 5) -> ImageSet:
    rng = np.random.default_rng(3)
    x_train = (rng.random((n_train, 28, 28, 1)) > 0.7).astype(np.float32)
    x_test = (rng.random((n_test, 28, 28, 1)) > 0.7).astype(np.float32)
    return ImageSet("mnist", x_train, np.arange(n_train) % 10, x_test, np.arange(n_test) % 10,
                    tuple(str(d) for d in range(10)))


def test_blend_is_the_absolute_difference_of_a_photo_crop_and_the_digit():
    photo = np.arange(40 * 30 * 3, dtype=np.int64).reshape(40, 30, 3).astype(np.uint8)
    digits = np.zeros((3, 28, 28, 1), np.float32)
    digits[1] = 1.0
    digits[2, 10:18, 10:18] = 0.5
    out = blend_with_photos(digits, [photo], np.random.default_rng(0))
    rng = np.random.default_rng(0)  # replay the draws: photo index, then row and column per digit
    rng.integers(0, 1, size=3)
    for i in range(3):
        top, left = rng.integers(0, 40 - 28 + 1), rng.integers(0, 30 - 28 + 1)
        patch = photo[top:top + 28, left:left + 28].astype(int)
        expected = np.abs(patch - np.rint(digits[i] * 255).astype(int))  # by hand, per pixel and channel
        np.testing.assert_array_equal(out[i], expected)
        if i == 0:
            np.testing.assert_array_equal(out[i], patch)  # no digit: the photo shows through
        if i == 1:
            np.testing.assert_array_equal(out[i], 255 - patch)  # a white digit inverts the photo's colours
    assert out.dtype == np.uint8 and out.shape == (3, 28, 28, 3)
    again = blend_with_photos(digits, [photo], np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)
    with pytest.raises(ValueError, match="no RGB photo"):
        blend_with_photos(digits, [photo[:20]], np.random.default_rng(0))


def test_blended_digits_keep_labels_and_split_and_are_seeded():
    target = blended_digits()
    from utilities.digits import load_image_set
    source = load_image_set("digits")
    assert target.x_train.shape == (len(source.x_train), 28, 28, 3) and target.x_train.dtype == np.uint8
    np.testing.assert_array_equal(target.y_train, source.y_train)
    np.testing.assert_array_equal(target.y_test, source.y_test)
    assert target.x_train.std() > 30  # colourful photos, not a blank background
    np.testing.assert_array_equal(blended_digits().x_test, target.x_test)
    # network input: grey replicated to RGB, scaled, mean removed
    mean = channel_mean(source.x_train, target.x_train)
    x = network_input(source.x_test[:4], mean)
    np.testing.assert_allclose(x[..., 0] + mean[0], x[..., 2] + mean[2], atol=1e-6)
    np.testing.assert_allclose(network_input(target.x_test[:4], mean) + mean, target.x_test[:4] / 255.0, atol=1e-6)


def test_mnistm_downloads_bsds_once_builds_a_seeded_cache_and_reads_only_training_photos(tmp_path):
    archive = bsr_archive_bytes()
    cache = tmp_path / "cache"
    mnist = _fake_mnist()
    with serve({"/BSR_bsds500.tgz": Route(archive)}) as (base, hits):
        url = base + "/BSR_bsds500.tgz"
        first = load_mnistm(mnist, cache, url=url, progress=False)
        again = load_mnistm(mnist, cache, url=url, progress=False)  # from mnistm.npz
        (cache / CACHE_NAME).unlink()
        rebuilt = load_mnistm(mnist, cache, url=url, progress=False)  # archive reused, same seed
        assert hits == {"/BSR_bsds500.tgz": 1}
    assert sorted(p.name for p in cache.iterdir()) == [ARCHIVE_NAME, CACHE_NAME]  # no temporary files left
    assert not (tmp_path / "escape.jpg").exists() and not list(tmp_path.rglob("*.jpg"))  # nothing extracted
    assert first.x_train.shape == (12, 28, 28, 3) and first.x_test.shape == (5, 28, 28, 3)
    np.testing.assert_array_equal(first.y_train, mnist.y_train)
    for other in (again, rebuilt):
        np.testing.assert_array_equal(first.x_train, other.x_train)
        np.testing.assert_array_equal(first.x_test, other.x_test)
    # background pixels (digit = 0) are the photo: only the three training colours, never val/test/hostile ones
    background = first.x_train[mnist.x_train[..., 0] == 0].astype(int)
    distances = np.abs(background[:, None, :] - np.array(TRAIN_COLOURS)[None]).max(-1).min(-1)
    assert distances.max() <= 3
    assert np.abs(background - np.array(OTHER_COLOUR)).max(-1).min() > 50
    inverted = first.x_train[mnist.x_train[..., 0] == 1].astype(int)  # digit strokes invert the photo
    assert np.abs((255 - inverted)[:, None, :] - np.array(TRAIN_COLOURS)[None]).max(-1).min(-1).max() <= 3


def test_safe_reader_ignores_links_traversal_and_other_folders(tmp_path):
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(bsr_archive_bytes())
    photos = read_bsds_photos(path)
    assert len(photos) == TRAIN_PHOTOS
    for i, photo in enumerate(photos):  # name order = the order they were written
        assert np.abs(photo.astype(int) - train_colour(i)).max() <= 3


def test_offline_and_broken_archives_give_one_clear_line(tmp_path):
    with serve({}) as (base, _):
        with pytest.raises(PhotosUnavailable) as info:
            load_mnistm(_fake_mnist(), tmp_path, url=base + "/BSR_bsds500.tgz", progress=False)
    message = str(info.value)
    assert base + "/BSR_bsds500.tgz" in message and str((tmp_path / ARCHIVE_NAME).resolve()) in message
    assert "\n" not in message and not (tmp_path / ARCHIVE_NAME).exists()
    (tmp_path / ARCHIVE_NAME).write_bytes(b"this is not a tar file")
    with pytest.raises(PhotosUnavailable, match="delete it"):
        load_mnistm(_fake_mnist(), tmp_path, progress=False)
    assert not (tmp_path / CACHE_NAME).exists()
