"""The size bounds every program applies to pictures: files it reads and sizes a flag asks for.

A picture file over MAX_PIXELS is refused from its header, before decoding (a 60000x60000 PNG
would need 10 GB as RGB). A flag such as `--image-size` is refused above MAX_SIDE before any
work: activations grow with the square of the side, and a 30000-px request on VGG16 was killed
by the kernel's out-of-memory killer without a word; 4096 px is already ~4 GB per VGG16 block-1
map (64 channels, float32).
"""
from __future__ import annotations

import argparse

MAX_PIXELS = 100_000_000     # picture files: about 300 MB as 8-bit RGB
MAX_SIDE = 4096              # a side a flag may ask the network to work at


def check_side(value: int, flag: str, *, max_side: int = MAX_SIDE, min_side: int = 1) -> int:
    """`value` if min_side <= value <= max_side, else ValueError naming `flag`."""
    if not min_side <= value <= max_side:
        raise ValueError(f"{flag} must be between {min_side} and {max_side} pixels, got {value}"
                         + ("; larger pictures need more memory than a machine has, downscale instead"
                            if value > max_side else ""))
    return value


def side_type(*, max_side: int = MAX_SIDE, min_side: int = 1):
    """An argparse `type=` for a picture side in pixels (refused outside min_side..max_side)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
        if not min_side <= value <= max_side:
            raise argparse.ArgumentTypeError(f"must be between {min_side} and {max_side} pixels, got {value}")
        return value
    return parse


def header_pixels(source) -> float | None:
    """A picture's pixel count from its header alone (a path, bytes or a binary file), before any decoding.

    `inf` when Pillow refuses the header as a decompression bomb (over ~179 MP), None when Pillow
    cannot read it (let the decoder decide). Compare with MAX_PIXELS before decoding a file.
    """
    import io
    import warnings

    from PIL import Image

    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: the caller applies its own limit
            with Image.open(source) as probe:
                width, height = probe.size
                return float(width) * float(height)
    except Exception as exc:  # noqa: BLE001 - any failure: not a picture Pillow knows
        if type(exc).__name__ == "DecompressionBombError":
            return float("inf")
        return None
