"""Reading user photos for assignment 3b: the skeleton's loader, made robust.

The skeleton's `load_image` read a file with skimage, scaled it to [0, 1], cut the centred
square and resized it to 224x224 (RGB). `load_image` here returns the same network input,
plus the original picture (for overlays) and where the square came from. Reading is done
with OpenCV so every common case of a real photo folder gives a picture or a one-line reason:

- grayscale -> three equal channels; 16-bit -> scaled by 65535 (not clipped to 255);
- RGBA / gray+alpha -> composited over white (transparent areas would otherwise be black);
- CMYK / YCCK JPEG -> converted by libjpeg; JPEG EXIF orientation applied (phones);
- 0-byte files, non-images, truncated data -> `ImageReadError` with the reason;
- tiny (< MIN_SIDE px) -> refused; huge (> max_pixels, read from the header before
  decoding so a 1-gigapixel file never fills memory) -> refused; large photos are reduced
  to MAX_KEPT_SIDE right after decoding, before the float conversion.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".gif", ".tif",
                              ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".jp2"})
MIN_SIDE = 16                # smaller pictures carry too little for a 224x224 network input
MAX_PIXELS = 100_000_000     # refused before decoding (about 300 MB as 8-bit RGB)
MAX_KEPT_SIDE = 1024         # the original is kept at most this large (overlays, figures)
_JPEG_MAGIC = b"\xff\xd8\xff"


class ImageReadError(ValueError):
    """A file could not be used as an image; str() is a one-line reason."""


@dataclass
class LoadedImage:
    """One photo ready for the network and for figures."""

    path: Path
    network_input: np.ndarray          # (size, size, 3) float32 RGB in [0, 1]: the skeleton's x
    original: np.ndarray               # (h, w, 3) float32 RGB in [0, 1], longest side <= MAX_KEPT_SIDE
    original_size: tuple[int, int]     # (height, width) as decoded, before reduction
    crop_box: tuple[int, int, int]     # (top, left, side) of the centred square in `original`


def display_name(name: str | os.PathLike) -> str:
    """A file name as text that can be printed, drawn and written: bytes that are not UTF-8 (which
    Python keeps as lone surrogates, e.g. 'caf\\udce9.jpg') become U+FFFD replacement characters."""
    text = os.fsdecode(name)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def list_images(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """(image files by extension, other files) in `folder`, sorted, hidden files skipped.

    A broken symbolic link with an image extension counts as an image: reading it then fails
    with a reason, instead of the file vanishing without a word.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if (p.is_file() or (p.is_symlink() and not p.exists())) and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    return images, [p for p in files if p not in images]


def read_image(path: str | Path, *, max_pixels: int = MAX_PIXELS, min_side: int = MIN_SIDE,
               max_side: int | None = MAX_KEPT_SIDE) -> np.ndarray:
    """Any image file -> float32 RGB (h, w, 3) in [0, 1]; raises ImageReadError with the reason.

    `max_side`: reduce (area averaging) so the longest side is at most this; None keeps it.
    """
    return _read(Path(path), max_pixels, min_side, max_side)[0]


def _read(path: Path, max_pixels: int, min_side: int, max_side: int | None):
    """(float RGB image, (height, width) as decoded, before any reduction)."""
    if path.is_symlink() and not path.exists():
        target = display_name(os.readlink(path))
        raise ImageReadError(f"broken symbolic link (points to {target}, which does not exist)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    pixels = _header_pixels(path)
    if pixels is not None and pixels > max_pixels:
        size = "over 179" if pixels == float("inf") else f"{pixels / 1e6:.0f}"
        raise ImageReadError(f"image has {size} megapixels, over the "
                             f"{max_pixels / 1e6:.0f}-megapixel limit; downscale it first")
    image = _decode(np.frombuffer(data, dtype=np.uint8))
    height, width = image.shape[:2]
    if min(height, width) < min_side:
        raise ImageReadError(f"image is only {width}x{height} pixels; at least {min_side} px "
                             "on each side is needed")
    if max_side and max(height, width) > max_side:
        scale = max_side / max(height, width)
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    return _to_unit_rgb(image), (height, width)


def _header_pixels(path: Path) -> float | None:
    """Pixel count from the header alone (Pillow opens lazily), None if Pillow cannot tell.

    Pillow comes with matplotlib and scikit-image; OpenCV has no header-only reader.
    """
    try:
        from PIL import Image
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we apply our own limit
            with Image.open(path) as probe:
                width, height = probe.size
                return float(width * height)
    except Exception as exc:  # noqa: BLE001 - any failure: let OpenCV decide
        if type(exc).__name__ == "DecompressionBombError":  # over ~179 MP, Pillow's hard limit
            return float("inf")
        return None


def _decode(buffer: np.ndarray) -> np.ndarray:
    """Encoded bytes -> BGR (h, w, 3) or BGRA (h, w, 4), uint8 or uint16."""
    try:
        if buffer[:3].tobytes() == _JPEG_MAGIC:
            image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)   # CMYK/YCCK, EXIF orientation
        else:
            image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
            if image is not None and not _has_alpha(image):
                image = cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        raise ImageReadError(f"cannot decode image ({str(exc).strip().splitlines()[-1]})") from None
    if image is None:
        raise ImageReadError("not an image OpenCV can decode (unknown format, or corrupt/truncated data)")
    if image.ndim == 3 and image.shape[2] == 2:  # gray + alpha
        image = np.dstack([image[..., 0]] * 3 + [image[..., 1]])
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def _has_alpha(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] in (2, 4)


def _to_unit_rgb(image: np.ndarray) -> np.ndarray:
    """BGR(A) of any depth -> RGB float32 in [0, 1], alpha composited over white."""
    if image.dtype == np.uint8:
        unit = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        unit = image.astype(np.float32) / 65535.0
    else:  # float TIFF/EXR/HDR: assume [0, 1] scene values
        unit = np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0)
    if unit.shape[2] == 4:
        alpha = unit[..., 3:]
        unit = unit[..., :3] * alpha + (1.0 - alpha)
    return np.ascontiguousarray(unit[..., ::-1])


def centre_crop_box(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest centred square, as in the skeleton's loader."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def to_network_input(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Centre-crop `image` to a square and resize it to (size, size); also return the box."""
    top, left, side = box = centre_crop_box(*image.shape[:2])
    square = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR  # anti-aliased shrink
    resized = cv2.resize(square, (size, size), interpolation=interpolation)
    return np.clip(resized, 0.0, 1.0).astype(np.float32), box


def load_image(path: str | Path, size: int = 224, *, max_pixels: int = MAX_PIXELS,
               min_side: int = MIN_SIDE, max_side: int | None = MAX_KEPT_SIDE) -> LoadedImage:
    """The assignment's loader: centred square, resized to `size`, RGB float in [0, 1]."""
    path = Path(path)
    original, decoded_size = _read(path, max_pixels, min_side, max_side)
    network_input, box = to_network_input(original, size)
    return LoadedImage(path, network_input, original, decoded_size, box)


def unit_rgb_preprocess(spec_preprocess: Callable) -> Callable:
    """The skeleton's input is RGB in [0, 1]; the models take spec.preprocess(RGB 0..255)."""
    return lambda x: spec_preprocess(x * 255.0)
