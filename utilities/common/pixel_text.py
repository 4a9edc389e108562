"""Text drawn straight into an RGB canvas with matplotlib's own font engine, without a Figure.

A figure whose frame never changes (the explanation grids of 3b, the confusion image of 3a) is
cheaper composed in pixels than redrawn by matplotlib: each line of text is rasterised once by
FT2Font (the fonts and hinting Agg uses, so it looks like matplotlib's), cached, and blended
into the canvas where it belongs.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import get_hinting_flag
from matplotlib.font_manager import FontProperties, findfont, get_font

LINE_SPACING = 1.2          # baseline to baseline, in font sizes (matplotlib's text line spacing)


@dataclass
class Text:
    """One text of a composed figure, in pixels from the top-left corner.

    `va="baseline"`: the last line's baseline at `y` (a panel title grows upwards, as matplotlib's
    axes titles); `va="top"`: the block's top at `y`; `va="center"`: the block's middle at `y`.
    `cell`: the column (x0, x1) it belongs to. `colour`: RGB 0..255.
    """

    text: str
    x: float
    y: float
    points: float
    family: str | None = None
    ha: str = "center"
    va: str = "baseline"
    cell: tuple[float, float] | None = None
    colour: tuple[int, int, int] = (0, 0, 0)


def _font(points: float, family: str | None, dpi: float):
    font = get_font(findfont(FontProperties(family=family)))
    font.clear()
    font.set_size(points, dpi)
    return font


@functools.lru_cache(maxsize=64)
def line_pitch(points: float, family: str | None, dpi: float) -> tuple[float, float]:
    """(baseline-to-baseline distance, ascent above the baseline of a line's box) in pixels."""
    font = _font(points, family, dpi)
    ascent, descent = font.ascender / font.units_per_EM, -font.descender / font.units_per_EM
    size = points * dpi / 72.0
    leading = LINE_SPACING - (ascent + descent)
    return LINE_SPACING * size, (ascent + leading / 2) * size


@functools.lru_cache(maxsize=4096)
def line_image(line: str, points: float, family: str | None, dpi: float) -> tuple[np.ndarray, float, float, float]:
    """One line as Agg draws it: (coverage (h, w) uint8, x offset of the bitmap, its bottom below the
    baseline, advance width), in pixels. Cached: the same titles come back on every figure."""
    font = _font(points, family, dpi)
    font.set_text(line, 0.0, flags=get_hinting_flag())
    font.draw_glyphs_to_bitmap(antialiased=True)
    x_offset, y_offset = font.get_bitmap_offset()
    coverage = np.array(font.get_image(), dtype=np.uint8)
    coverage.setflags(write=False)
    return coverage, x_offset / 64.0, (y_offset + font.get_descent()) / 64.0, font.get_width_height()[0] / 64.0


def placed_lines(text: Text, dpi: float) -> list[tuple[np.ndarray, int, int]]:
    """(coverage, left, top) in canvas pixels for each non-empty line of `text`."""
    lines = text.text.split("\n")
    pitch, ascent = line_pitch(text.points, text.family, dpi)
    if text.va == "top":
        first = text.y + ascent
    elif text.va == "center":
        first = text.y - pitch * len(lines) / 2 + ascent
    else:
        first = text.y - pitch * (len(lines) - 1)
    placed = []
    for i, line in enumerate(lines):
        if not line:
            continue
        coverage, x_offset, below, width = line_image(line, text.points, text.family, dpi)
        left = text.x - {"center": width / 2, "right": width}.get(text.ha, 0.0)
        bottom = round(first + i * pitch + below) + 1
        placed.append((coverage, round(left + x_offset), bottom - coverage.shape[0]))
    return placed


def draw_text(canvas: np.ndarray, text: Text, dpi: float) -> None:
    """`text` in its colour, blended by its coverage into (H, W, 3) uint8 `canvas`, clipped to it."""
    height, width = canvas.shape[:2]
    colour = np.asarray(text.colour, np.uint16)
    for coverage, left, top in placed_lines(text, dpi):
        h, w = coverage.shape
        y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + h, height), min(left + w, width)
        if y0 >= y1 or x0 >= x1:
            continue
        alpha = coverage[y0 - top:y1 - top, x0 - left:x1 - left, None].astype(np.uint16)
        region = canvas[y0:y1, x0:x1]
        region[:] = ((region.astype(np.uint16) * (255 - alpha) + colour * alpha + 127) // 255).astype(np.uint8)
