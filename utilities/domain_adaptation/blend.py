"""Ganin & Lempitsky's MNIST-M blend: a digit over a random crop of a colour photo, |photo - digit|.

For every digit a photo is drawn at random, a patch of the digit's size is cut at a random
position, and each pixel and channel becomes |patch - digit| (the digit scaled to 0-255 and
replicated to RGB): where the digit is white the photo's colours are inverted, elsewhere the
photo shows through. The grey levels of the digit are kept (no threshold), so anti-aliased
strokes invert partly.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 1) grey images -> (N, H, W, 3) by replicating the channel (how MNIST feeds an RGB network)."""
    images = np.asarray(images)
    if images.shape[-1] == 3:
        return images
    return np.repeat(images, 3, axis=-1)


def blend_with_photos(digits: np.ndarray, photos: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Blend float digits (N, H, W, 1) in [0, 1] with random crops of uint8 RGB `photos`.

    Returns uint8 (N, H, W, 3). Draws from `rng` in a fixed order (photo index, row, column per
    digit), so the same seed gives the same images.
    """
    digits = np.asarray(digits, np.float32)
    n, h, w = digits.shape[:3]
    photos = [p for p in photos if p.ndim == 3 and p.shape[2] == 3 and p.shape[0] >= h and p.shape[1] >= w]
    if not photos:
        raise ValueError(f"no RGB photo of at least {h}x{w} pixels to crop from")
    which = rng.integers(0, len(photos), size=n)
    out = np.empty((n, h, w, 3), np.uint8)
    strokes = np.rint(np.clip(digits, 0.0, 1.0) * 255.0).astype(np.int16)
    for i in range(n):
        photo = photos[which[i]]
        top = rng.integers(0, photo.shape[0] - h + 1)
        left = rng.integers(0, photo.shape[1] - w + 1)
        patch = photo[top:top + h, left:left + w].astype(np.int16)
        out[i] = np.abs(patch - strokes[i]).astype(np.uint8)  # (h, w, 3) - (h, w, 1) broadcasts to RGB
    return out
