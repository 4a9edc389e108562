"""Decoding and resizing images exactly the way the training pipeline sees them.

One decoder serves both the downloader (which keeps only files that decode) and the tf.data
pipeline, so a file the downloader accepted is a file training can read.

Faithfulness to the original skeleton (cv2.imread -> cv2.resize(227, 227) -> float):
- JPEG is decoded with libjpeg's accurate integer IDCT (`dct_method="INTEGER_ACCURATE"`),
  which is what OpenCV uses: the decoded pixels are bit-identical to cv2.imread (RGB order
  here, BGR there; `spec.preprocess` does the RGB->BGR swap).
- PNG, GIF (first frame), BMP and WebP go through `tf.io.decode_image`. Grayscale becomes
  three equal channels and alpha is dropped without compositing, as cv2.IMREAD_COLOR does.
- Resizing is bilinear with half-pixel centres and no antialiasing, rounded back to uint8,
  like cv2.resize(INTER_LINEAR) on a uint8 image. OpenCV interpolates in 11-bit fixed point,
  so some values differ from ours by exactly 1, never more (README, "How images reach the
  network"; tests/test_dataset.py).
"""
from __future__ import annotations

import operator
import re
from collections.abc import Sequence

import tensorflow as tf

_JPEG_MAGIC = b"\xff\xd8\xff"


def decode_rgb(contents: tf.Tensor) -> tf.Tensor:
    """Decode encoded image bytes (scalar string tensor) into uint8 RGB of shape (H, W, 3).

    Works eagerly and inside tf.data/tf.function. Raises `tf.errors.InvalidArgumentError`
    for anything that is not a complete JPEG/PNG/GIF/BMP/WebP image (truncated files
    included: TF's JPEG decoder does not "recover" half images by default).
    """
    contents = tf.convert_to_tensor(contents, dtype=tf.string)
    is_jpeg = tf.equal(tf.strings.substr(contents, 0, 3), _JPEG_MAGIC)
    image = tf.cond(
        is_jpeg,
        lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
    )
    image = tf.ensure_shape(image, [None, None, 3])
    return image


def resize_uint8(image: tf.Tensor, size: int | Sequence[int]) -> tf.Tensor:
    """Bilinear resize of a uint8 (H, W, 3) or (N, H, W, 3) image to `size`, returned as uint8.

    `size` is an int (square, as the original's 227x227 — no crop, aspect ratio not kept)
    or (height, width).
    """
    height, width = size_pair(size)
    # uint8 goes in as it is: tf.image.resize computes in float32 either way, and skipping
    # an explicit cast of the full-size image saves about a third of the resize time.
    resized = tf.image.resize(image, (height, width), method="bilinear", antialias=False)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) from an int or a pair; ValueError unless both are positive integers.

    Checked eagerly: inside tf.data a bad size would fail every image, and those errors
    would be skipped as "unreadable images" instead of being reported."""
    pair: tuple = ()
    try:
        pair = tuple(size) if hasattr(size, "__len__") else (size, size)
        height, width = (operator.index(v) for v in pair)
    except (TypeError, ValueError):
        height = width = 0
    if height <= 0 or width <= 0 or any(isinstance(v, bool) for v in pair):
        raise ValueError(f"image_size must be a positive int or (height, width), got {size!r}")
    return height, width


def image_problem(data: bytes) -> str | None:
    """None when `data` decodes as an image the pipeline can read, else a one-line reason."""
    if not data:
        return "empty file"
    try:
        decode_rgb(tf.constant(data))
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as exc:
        return error_gist(exc.message)
    return None


def error_gist(message: str) -> str:
    """The human part of a TF error message, without node names, op tags and traces."""
    text = re.sub(r"\s*\[\[\{\{node .*", "", message, flags=re.S)
    text = re.sub(r"\s*\[Op:[^\]]*\].*", "", text, flags=re.S)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line)
    return line[:200] or "decode failed"
