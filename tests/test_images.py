"""Robust image reading: every odd file of a real photo folder gives a picture or a reason."""
import cv2
import numpy as np
import pytest
from PIL import Image

from utilities.explain.images import ImageReadError, list_images, load_image, read_image

RED = (255, 0, 0)


def save_rgb(path, rgb):
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


def test_colour_order_is_rgb_and_values_in_unit_range(tmp_path):
    image = np.zeros((32, 48, 3), np.uint8)
    image[..., 0] = 255  # red
    out = read_image(save_rgb(tmp_path / "red.png", image))
    assert out.dtype == np.float32 and out.shape == (32, 48, 3)
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])


def test_grayscale_becomes_three_equal_channels(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((20, 30), 51, np.uint8))
    out = read_image(tmp_path / "g.png")
    assert out.shape == (20, 30, 3)
    np.testing.assert_allclose(out, 0.2, atol=1e-6)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((20, 20, 3), 32768, np.uint16))
    np.testing.assert_allclose(read_image(tmp_path / "deep.png"), 32768 / 65535, atol=1e-6)


def test_rgba_is_composited_over_white(tmp_path):
    bgra = np.zeros((20, 20, 4), np.uint8)
    bgra[:10, :, 2] = 255   # top half red ...
    bgra[:10, :, 3] = 255   # ... and opaque; bottom half fully transparent
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    out = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])
    np.testing.assert_allclose(out[-1, -1], [1, 1, 1])


def test_cmyk_jpeg(tmp_path):
    Image.new("RGB", (40, 30), RED).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = read_image(tmp_path / "cmyk.jpg")
    assert out.shape == (30, 40, 3)
    np.testing.assert_allclose(out[15, 20], [1, 0, 0], atol=0.02)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display", as phones write portrait photos
    Image.new("RGB", (40, 20), RED).save(tmp_path / "phone.jpg", exif=exif)
    assert read_image(tmp_path / "phone.jpg").shape == (40, 20, 3)


@pytest.mark.parametrize("name, content, reason", [
    ("empty.jpg", b"", "empty file"),
    ("notes.jpg", b"this is text, not a picture", "not an image"),
    ("cut.png", None, "not an image"),
])
def test_unreadable_files_give_one_line_reasons(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is None:  # a PNG cut in the middle of its data
        ok, encoded = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
        content = encoded.tobytes()[:300]
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as error:
        read_image(path)
    assert "\n" not in str(error.value)


def test_tiny_images_refused_small_ones_processed(tmp_path):
    save_rgb(tmp_path / "dot.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ImageReadError, match="only 4x4 pixels"):
        read_image(tmp_path / "dot.png")
    small = load_image(save_rgb(tmp_path / "small.png", np.zeros((20, 24, 3), np.uint8)), 224)
    assert small.network_input.shape == (224, 224, 3)


def test_huge_images_refused_from_header_and_large_ones_reduced(tmp_path):
    path = save_rgb(tmp_path / "big.png", np.zeros((2000, 3000, 3), np.uint8))
    with pytest.raises(ImageReadError, match="6 megapixels, over the 1-megapixel limit"):
        read_image(path, max_pixels=1_000_000)
    loaded = load_image(path, 224)
    assert loaded.original.shape == (683, 1024, 3) and loaded.original_size == (2000, 3000)
    assert loaded.network_input.shape == (224, 224, 3)


def test_centre_square_is_what_the_network_sees(tmp_path):
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :50] = RED
    image[:, 50:250] = (0, 255, 0)
    image[:, 250:] = (0, 0, 255)
    loaded = load_image(save_rgb(tmp_path / "bands.png", image), 64)
    assert loaded.crop_box == (0, 50, 200)
    np.testing.assert_allclose(loaded.network_input, np.broadcast_to([0, 1, 0], (64, 64, 3)), atol=1e-6)


def test_list_images_by_extension(tmp_path):
    for name in ["b.JPG", "a.png", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    images, others = list_images(tmp_path)
    assert [p.name for p in images] == ["a.png", "b.JPG"] and [p.name for p in others] == ["notes.txt"]
    with pytest.raises(FileNotFoundError, match="folder not found"):
        list_images(tmp_path / "missing")
