"""Content and style pictures as the optimiser sees them: float32 RGB in 0..255, long side fixed.

Files are read with the project's robust photo reader (`utilities.explain.images.read_image`:
grayscale, alpha, 16-bit, EXIF orientation, truncated files -> one-line reasons), then resized
so the longest side is `long_side` (area averaging when shrinking, bicubic when enlarging).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from utilities.explain.images import ImageReadError, read_image


class ImageInputError(ValueError):
    """A content or style picture cannot be used; str() names the file and the reason."""


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize (h, w, c) so max(h, w) == long_side, keeping the aspect ratio."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return resize_to(image, size[1], size[0], interpolation)


def resize_to(image: np.ndarray, height: int, width: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Resize (h, w, c) to exactly (height, width, c)."""
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    return resized.reshape(height, width, *image.shape[2:]).astype(np.float32)


def load_picture(path: str | Path, long_side: int, role: str = "image") -> np.ndarray:
    """Read `path` as float32 RGB 0..255 with its longest side `long_side`; ImageInputError if unusable."""
    try:
        unit = read_image(path, max_side=None)
    except ImageReadError as exc:
        raise ImageInputError(f"{role} image {path}: {exc}") from None
    return np.clip(resize_long_side(unit, long_side) * 255.0, 0.0, 255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float 0..255 -> uint8 (rounded, clipped)."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def initial_image(kind: str, content: np.ndarray, style: np.ndarray, seed: int) -> np.ndarray:
    """The starting picture: the content, the style resized to the content's size, or white noise."""
    height, width = content.shape[:2]
    if kind == "content":
        return content.copy()
    if kind == "style":
        return resize_to(style, height, width)
    if kind == "noise":
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 255.0, content.shape).astype(np.float32)
    raise ValueError(f"init must be content, style or noise, got {kind!r}")
