"""Figures for explanations: per-image panels and a summary grid for a folder.

The folder figures (`compose_explanation`, `compose_summary`) are composed in pixels: panels
resampled once onto a white canvas, titles rasterised with matplotlib's own fonts, the PNG
written by OpenCV; `explanation_figure` / `summary_figure` give the same picture as a
matplotlib Figure. The comparison figure (`python -m utilities.explain`) uses
`matplotlib.figure.Figure` axes directly (no pyplot): no global state, no GUI backend, safe in
threads and in tests. Maps arrive normalised to [0, 1]; overlays are drawn on the
original picture, with the heatmap inside the centred square the network saw and the
rest of the picture dimmed. With a shared scale (`assignment_3b.py --shared-scale`) the maps
arrive divided by one absolute value per method instead of their own maximum, and the
figures get a colour bar per method saying which raw value the top colour stands for.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from utilities.common.figures import save_rgb_png
from utilities.common.pixel_text import Text, draw_text, placed_lines
from utilities.explain.images import display_name

HEATMAP_COLORMAP = "jet"
SALIENCY_COLORMAP = "hot"
SUMMARY_ROWS_PER_PAGE = 20
MAX_FIGURE_CLASSES = 10   # class-map rows drawn per image; all k are in predictions.csv and the .npz
PANEL_PIXELS = 320   # an overlay panel is 2.4 in at 100 dpi: drawn from an original this large
TITLE_POINTS = 8     # panel titles
TITLE_LINE_INCHES = 0.16   # height of one title line above a panel
MARGIN_INCHES = 0.08       # left and right figure margins of the panel grids
WSPACE = 0.12              # gap between panels, as a fraction of a panel's width
WRAP_SHARE = 0.88          # lines of a wrapped title take at most this share of their panel's width


@dataclass
class Prediction:
    index: int
    name: str
    probability: float

    def label(self) -> str:
        return f"{self.name} ({self.index}) p={self.probability:.3f}"


@dataclass
class FigureContent:
    """Everything one image's figure shows (maps already normalised to [0, 1])."""

    title: str
    network_input: np.ndarray                 # (S, S, 3) RGB [0, 1]
    original: np.ndarray                      # (h, w, 3) RGB [0, 1]
    crop_box: tuple[int, int, int]            # (top, left, side) in `original`
    predictions: list[Prediction]             # ranked, top-k
    input_maps: dict[str, np.ndarray] = field(default_factory=dict)   # title -> (S, S), top-1
    class_maps: dict[str, np.ndarray] = field(default_factory=dict)   # title -> (k, S, S)
    scales: dict[str, float] = field(default_factory=dict)   # title -> raw value shown as 1 (shared scale)


def colormap_for(class_map: bool) -> str:
    """Class maps (Grad-CAM family) in jet, input attributions in hot, as every figure draws them."""
    return HEATMAP_COLORMAP if class_map else SALIENCY_COLORMAP


@functools.cache
def _colour_table(colormap: str) -> np.ndarray:
    return colormaps[colormap](np.arange(colormaps[colormap].N))[:, :3].astype(np.float32)


def colorize(map01: np.ndarray, colormap: str = HEATMAP_COLORMAP) -> np.ndarray:
    """(h, w) in [0, 1] -> (h, w, 3) RGB float.

    The colour map's own lookup (bin floor(x * N), 1.0 in the last), from a cached table: the
    same colours as calling the matplotlib colour map, about 20 times faster on a 227x227 map.
    """
    table = _colour_table(colormap)
    bins = np.minimum((np.clip(map01, 0.0, 1.0) * len(table)).astype(np.intp), len(table) - 1)
    return table[bins]


@functools.cache
def _colour_lut(colormap: str) -> np.ndarray | None:
    """The colour table rounded to 8 bits as OpenCV's (256, 1, 3) lookup table; None unless N = 256."""
    table = _colour_table(colormap)
    if len(table) != 256:
        return None
    return np.ascontiguousarray(np.round(table * 255).astype(np.uint8).reshape(256, 1, 3))


def colorize_u8(map01: np.ndarray, colormap: str = HEATMAP_COLORMAP) -> np.ndarray:
    """`colorize` rounded to 8 bits, (h, w, 3) uint8 RGB: the same bins (floor(x * N), 1.0 in the
    last), then one table lookup in OpenCV (~10x faster than indexing the float table)."""
    lut = _colour_lut(colormap)
    if lut is None:
        return np.round(colorize(map01, colormap) * 255).astype(np.uint8)
    index = np.clip(np.asarray(map01, np.float32) * 256, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(index, lut)


def to_u8(rgb01: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> uint8 (rounded, clipped)."""
    return cv2.convertScaleAbs(np.asarray(rgb01, np.float32), alpha=255.0)


def overlay_on_original(original: np.ndarray, crop_box: tuple[int, int, int], map01: np.ndarray,
                        alpha: float = 0.5, dim: float = 0.4) -> np.ndarray:
    """Heatmap blended into the crop square of the original; outside the square dimmed."""
    top, left, side = crop_box
    heat = cv2.resize(map01.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    out = original * dim
    square = original[top:top + side, left:left + side]
    out[top:top + side, left:left + side] = (1 - alpha) * square + alpha * colorize(heat)
    return np.clip(out, 0.0, 1.0)


def overlay_u8(original: np.ndarray, crop_box: tuple[int, int, int], map01: np.ndarray, alpha: float = 0.5,
               dim: float = 0.4) -> np.ndarray:
    """`overlay_on_original` on an 8-bit original, in 8 bits (OpenCV's saturating blends)."""
    top, left, side = crop_box
    heat = cv2.resize(map01.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    out = cv2.convertScaleAbs(original, alpha=dim)
    square = original[top:top + side, left:left + side]
    out[top:top + side, left:left + side] = cv2.addWeighted(square, 1 - alpha, colorize_u8(heat), alpha, 0.0)
    return out


def shown_original(content: FigureContent, side: int = PANEL_PIXELS) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The original and its crop box reduced to about a panel's pixels (area-averaged, as the
    panel would show it): matplotlib then draws a small image instead of resampling a large one."""
    height, width = content.original.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return content.original, content.crop_box
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(content.original.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    top, left, square = content.crop_box
    return small, (round(top * scale), round(left * scale), max(1, round(square * scale)))


def panel_width_inches(fig_width: float, cols: int) -> float:
    """Width of one panel of `_grid` in a figure `fig_width` inches wide."""
    return (fig_width - 2 * MARGIN_INCHES) / (cols + WSPACE * (cols - 1))


@functools.lru_cache(maxsize=4096)
def _text_points(text: str, fontsize: float, family: str | None) -> float:
    """Width of one line of text in points (unhinted outlines: a little wider than drawn, so safe)."""
    prop = FontProperties(size=fontsize, family=family)
    return TextToPath().get_text_width_height_descent(text, prop, ismath=False)[0]


def wrap_text(text: str, width_inches: float, fontsize: float = TITLE_POINTS, family: str | None = None) -> str:
    """`text` with each line broken at spaces (a word too long for a line: between characters) so
    that no line is wider than `width_inches` at `fontsize`. Long class names and file names then
    take more lines instead of running over the neighbouring panels or the figure's edge.

    Lines are measured on the font's outlines and kept to WRAP_SHARE of the width: hinting at the
    80-100 dpi the figures are saved at draws small text up to ~9 % wider (measured on class names).
    """
    limit = WRAP_SHARE * width_inches * 72.0

    def fits(line: str) -> bool:
        return _text_points(line, fontsize, family) <= limit

    out: list[str] = []
    for paragraph in text.split("\n"):
        if fits(paragraph):            # as it is (indentation kept)
            out.append(paragraph)
            continue
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if fits(candidate):
                line = candidate
                continue
            if line:
                out.append(line)
            while word and not fits(word):           # one word wider than a line: cut it
                cut = max(1, max(n for n in range(1, len(word) + 1) if n == 1 or fits(word[:n])))
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    return "\n".join(out)


def _grid(fig: Figure, rows: int, cols: int, title_lines: int = 2, top_inches: float = 0.0,
          bottom_inches: float = 0.0) -> np.ndarray:
    """A rows x cols grid of image panels with room for `title_lines` of 8 pt titles above each.

    A fixed layout computed from the figure size: constrained layout gave the same picture but
    measured every tick and title of every panel on each save (about half the drawing time).
    """
    width, height = fig.get_size_inches()
    title = TITLE_LINE_INCHES * title_lines + 0.05         # inches above each panel
    panel = (height - top_inches - bottom_inches) / rows - title   # inches of image per row
    axes = np.array(fig.subplots(rows, cols, squeeze=False, gridspec_kw={
        "left": MARGIN_INCHES / width, "right": 1 - MARGIN_INCHES / width,
        "bottom": (0.04 + bottom_inches) / height,
        "top": 1 - (top_inches + title) / height, "wspace": WSPACE, "hspace": title / max(panel, 0.1)}))
    for ax in axes.ravel():
        ax.set_axis_off()
    return axes


def _line_count(titles) -> int:
    return max((t.count("\n") + 1 for t in titles), default=1)


def _show(ax, image, title: str, cmap: str | None = None) -> None:
    ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="bilinear")
    ax.set_title(title, fontsize=TITLE_POINTS, y=1.0)   # a fixed y: no search for tick labels to avoid
    ax.set_axis_off()


def _extra_title_inches(lines: int, reserved: int = 2) -> float:
    """Height to add to a row whose titles take `lines` lines where the figure size assumed `reserved`."""
    return TITLE_LINE_INCHES * max(0, lines - reserved)


# --------------------------------------------------------------------------- composed figures
#
# The folder figures (one per image, the summary) are composed directly in pixels: each panel is
# resampled once into its place on a white canvas and the titles are rasterised with matplotlib's
# own font engine (FT2Font, the fonts and hinting Agg uses), then the canvas is written as a PNG.
# The layout is the one the axes grid gave (`_grid`: same figure size, margins, gaps and title
# rows); what is gone is matplotlib's per-axes cost (12 axes per figure, each with its artists,
# transforms and a full draw on save: ~0.3 s of CPU a figure against ~0.02 s here, PNG
# included). Colour bars (shared scale) are drawn by matplotlib once per run and pasted: every
# figure of a run shows the same bars.

TITLE_PAD_POINTS = 6.0      # gap between a panel and its title (matplotlib's axes.titlepad)
COLOUR_BAR_INCHES = 0.6     # strip along the bottom holding the colour bars of a shared scale


@dataclass
class Composition:
    """A figure laid out in pixels: the panels drawn on `canvas`, the texts drawn by `pixels()`."""

    canvas: np.ndarray                       # (H, W, 3) uint8, panels (and colour bars), no text
    dpi: float
    texts: list[Text] = field(default_factory=list)
    panels: list[tuple[int, int, int, int]] = field(default_factory=list)   # (x0, y0, x1, y1) of every image
    title: Text | None = None                # the figure's title (suptitle)

    def get_size_inches(self) -> np.ndarray:
        height, width = self.canvas.shape[:2]
        return np.array([width / self.dpi, height / self.dpi])

    def pixels(self, title: bool = True) -> np.ndarray:
        """The finished figure, (H, W, 3) uint8 RGB."""
        out = self.canvas.copy()
        for text in self.texts + ([self.title] if title and self.title else []):
            draw_text(out, text, self.dpi)
        return out

    def text_boxes(self) -> list[tuple[Text, tuple[int, int, int, int]]]:
        """(text, (x0, y0, x1, y1)) of the ink of every line drawn, in canvas pixels."""
        boxes = []
        for text in self.texts + ([self.title] if self.title else []):
            for coverage, left, top in placed_lines(text, self.dpi):
                rows, cols = np.nonzero(coverage)
                if len(rows):
                    boxes.append((text, (left + cols.min(), top + rows.min(), left + cols.max() + 1,
                                         top + rows.max() + 1)))
        return boxes

    def figure(self) -> Figure:
        """The same figure as a matplotlib Figure (for notebooks): the composed pixels as one image,
        the title as the figure's suptitle. Save it at `self.dpi`."""
        height, width = self.canvas.shape[:2]
        fig = Figure(figsize=(width / self.dpi, height / self.dpi), dpi=self.dpi)
        fig.figimage(self.pixels(title=False), origin="upper")
        if self.title is not None:
            fig.suptitle(self.title.text, fontsize=self.title.points, y=1 - self.title.y / height, va="top")
        return fig

    def save(self, dest: str | os.PathLike) -> Path:
        """Write the figure as a PNG, atomically (fast zlib level, as every figure of the project)."""
        return save_rgb_png(dest, self.pixels())


def _grid_cells(width: float, height: float, rows: int, cols: int, title_lines: int, top_inches: float = 0.0,
                bottom_inches: float = 0.0) -> np.ndarray:
    """(rows, cols, 4) cells (x0, y0, x1, y1) in inches from the top-left: `_grid`'s layout."""
    title = TITLE_LINE_INCHES * title_lines + 0.05
    panel = (height - top_inches - bottom_inches) / rows - title
    hspace = title / max(panel, 0.1)
    left, right = MARGIN_INCHES, width - MARGIN_INCHES
    top, bottom = top_inches + title, height - 0.04 - bottom_inches
    cell_w = (right - left) / (cols + WSPACE * (cols - 1))
    cell_h = (bottom - top) / (rows + hspace * (rows - 1))
    x0 = left + np.arange(cols) * cell_w * (1 + WSPACE)
    y0 = top + np.arange(rows) * cell_h * (1 + hspace)
    cells = np.empty((rows, cols, 4))
    cells[..., 0], cells[..., 1] = x0[None, :], y0[:, None]
    cells[..., 2], cells[..., 3] = cells[..., 0] + cell_w, cells[..., 1] + cell_h
    return cells


class _Canvas:
    """Builds a Composition: images fitted into grid cells, titles above them."""

    def __init__(self, width: float, height: float, dpi: float):
        self.dpi = dpi
        self.composition = Composition(np.full((round(height * dpi), round(width * dpi), 3), 255, np.uint8), dpi)

    def image(self, cell: np.ndarray, source: np.ndarray, title: str, colormap: str | None = None) -> None:
        """`source` ((h, w) map in [0, 1] drawn in `colormap`, or (h, w, 3) RGB [0, 1]) fitted into
        `cell` keeping its aspect, centred, resampled once; `title` above it."""
        x0, y0, x1, y1 = cell * self.dpi
        h, w = source.shape[:2]
        scale = min((x1 - x0) / w, (y1 - y0) / h)
        box_w, box_h = max(1, round(w * scale)), max(1, round(h * scale))
        left, top = round((x0 + x1 - box_w) / 2), round((y0 + y1 - box_h) / 2)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        if colormap is not None:     # a map: resampled as data, then coloured
            resized = colorize_u8(cv2.resize(np.asarray(source, np.float32), (box_w, box_h),
                                             interpolation=interpolation), colormap)
        else:
            rgb = source if source.dtype == np.uint8 else to_u8(source)
            resized = cv2.resize(rgb, (box_w, box_h), interpolation=interpolation)
        canvas = self.composition.canvas
        region = canvas[top:top + box_h, left:left + box_w]
        region[:] = resized[:region.shape[0], :region.shape[1]]
        self.composition.panels.append((left, top, left + region.shape[1], top + region.shape[0]))
        if title:
            self.text(title, (left + box_w / 2), top - TITLE_PAD_POINTS * self.dpi / 72.0, TITLE_POINTS,
                      cell=(x0, x1))

    def text(self, text: str, x: float, y: float, points: float, family: str | None = None, ha: str = "center",
             va: str = "baseline", cell: tuple[float, float] | None = None) -> None:
        self.composition.texts.append(Text(text, x, y, points, family, ha, va, cell))

    def title(self, text: str, points: float = 10) -> None:
        width = self.composition.canvas.shape[1]
        self.composition.title = Text(text, width / 2, 0.06 * self.dpi, points, va="top")

    def colour_bars(self, content: FigureContent) -> None:
        """The colour bars of a shared scale along the bottom (see `colour_bar_strip`)."""
        bars = tuple((t, colormap_for(t in content.class_maps), float(content.scales[t]))
                     for t in (*content.input_maps, *content.class_maps) if t in content.scales)
        if bars:
            canvas = self.composition.canvas
            strip = colour_bar_strip(bars, canvas.shape[1], self.dpi)
            canvas[canvas.shape[0] - strip.shape[0]:] = strip


@functools.lru_cache(maxsize=16)
def colour_bar_strip(bars: tuple[tuple[str, str, float], ...], width_px: int, dpi: float) -> np.ndarray:
    """((title, colour map, raw value shown as 1), ...) -> (COLOUR_BAR_INCHES x dpi, width_px, 3) uint8:
    one horizontal matplotlib colour bar per method, titled, ticked in raw values. Drawn once per run
    (cached): every figure of a shared scale shows the same bars."""
    height_px = round(COLOUR_BAR_INCHES * dpi)
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    slot = 1.0 / len(bars)
    for i, (title, colormap, scale) in enumerate(bars):
        ax = fig.add_axes((i * slot + 0.15 * slot, 0.3 / COLOUR_BAR_INCHES, 0.7 * slot, 0.14 / COLOUR_BAR_INCHES))
        bar = fig.colorbar(ScalarMappable(Normalize(0.0, scale), colormap), cax=ax, orientation="horizontal")
        bar.ax.tick_params(labelsize=6, length=2, pad=1)
        bar.ax.set_title(f"{title} (shared scale, raw value)", fontsize=7, pad=2)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    strip = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    strip.setflags(write=False)
    return strip


def compose_explanation(content: FigureContent, dpi: float = 100) -> Composition:
    """Rows = ranked classes. Row 1: input, input-attribution maps (top-1), class maps.

    Each class-map method takes two columns: the heatmap over the network input and the
    overlay on the original picture, titled with the class and its probability. At most
    MAX_FIGURE_CLASSES classes are drawn (the title says so when there are more). Titles too
    long for their panel are wrapped onto more lines (the rows grow to make room).
    """
    k = max(1, min(len(content.predictions), MAX_FIGURE_CLASSES))
    rows = k if content.class_maps else 1
    lead = 1 + len(content.input_maps)
    text_column = rows == 1 and k > 1          # no room under the input: list classes aside
    cols = lead + 2 * len(content.class_maps) + int(text_column)
    width = panel_width_inches(2.4 * cols, cols)
    size = content.network_input.shape[0]
    top1 = content.predictions[0].label() if content.predictions else ""
    titles: dict[tuple[int, int], str] = {(0, 0): f"network input {size}x{size}"}
    for col, title in enumerate(content.input_maps, start=1):
        titles[0, col] = f"{title}\n#1 {top1}"
    for m, (title, maps) in enumerate(content.class_maps.items()):
        for rank in range(min(rows, len(maps))):
            label = content.predictions[rank].label() if rank < len(content.predictions) else ""
            titles[rank, lead + 2 * m] = f"{title} #{rank + 1}\n{label}"
            titles[rank, lead + 2 * m + 1] = f"{title} #{rank + 1} overlay"
    titles = {key: wrap_text(display_name(text), width) for key, text in titles.items()}
    lines = _line_count(titles.values())
    bars = COLOUR_BAR_INCHES if content.scales else 0.0
    fig_width, fig_height = 2.4 * cols, (2.5 + _extra_title_inches(lines)) * rows + 0.4 + bars
    cells = _grid_cells(fig_width, fig_height, rows, cols, max(2, lines), top_inches=0.3, bottom_inches=bars)
    draw = _Canvas(fig_width, fig_height, dpi)
    original, crop_box = shown_original(content)
    original = to_u8(original)
    draw.image(cells[0, 0], content.network_input, titles[0, 0])
    if k > 1:
        x0, y0, _, _ = cells[0, -1] if text_column else cells[1, 0]
        listing = "\n".join(f"{r + 1}. {p.name}\n    p={p.probability:.3f}"
                            for r, p in enumerate(content.predictions[:k]))
        draw.text(wrap_text(f"top-{k}\n{listing}", width, 8, "monospace"), x0 * dpi, y0 * dpi, 8,
                  family="monospace", ha="left", va="top", cell=(x0 * dpi, (x0 + width) * dpi))
    for col, map01 in enumerate(content.input_maps.values(), start=1):
        draw.image(cells[0, col], map01, titles[0, col], SALIENCY_COLORMAP)
    for m, maps in enumerate(content.class_maps.values()):
        for rank in range(min(rows, len(maps))):
            draw.image(cells[rank, lead + 2 * m], maps[rank], titles[rank, lead + 2 * m], HEATMAP_COLORMAP)
            draw.image(cells[rank, lead + 2 * m + 1], overlay_u8(original, crop_box, maps[rank]),
                       titles[rank, lead + 2 * m + 1])
    more = len(content.predictions) - k
    title = content.title if more <= 0 else (f"{content.title}   (top {k} of {len(content.predictions)} drawn; "
                                             "all in predictions.csv)")
    draw.title(wrap_text(display_name(title), fig_width - 0.2, 10))
    draw.colour_bars(content)
    return draw.composition


def explanation_figure(content: FigureContent) -> Figure:
    """`compose_explanation` as a matplotlib Figure (to show in a notebook; save it at 100 dpi)."""
    return compose_explanation(content).figure()


def compose_summary(contents: Sequence[FigureContent], dpi: float = 80) -> Composition:
    """One row per image: input, each input map, each class map's top-1 overlay.

    Long file and class names are wrapped to their panel's width ("automated teller machine"
    used to be cut at both ends); every row gets room for the longest title of the page.
    """
    first = contents[0]
    cols = 1 + len(first.input_maps) + len(first.class_maps)
    width = panel_width_inches(2.2 * cols, cols)
    titles = []
    for content in contents:
        top1 = content.predictions[0].label() if content.predictions else ""
        row = [f"{content.title}\n{top1}", *content.input_maps, *(f"{t} #1" for t in content.class_maps)]
        titles.append([wrap_text(display_name(text), width) for text in row])
    lines = _line_count(t for row in titles for t in row)
    bars = COLOUR_BAR_INCHES if first.scales else 0.0
    fig_width, fig_height = 2.2 * cols, (2.3 + _extra_title_inches(lines)) * len(contents) + bars
    cells = _grid_cells(fig_width, fig_height, len(contents), cols, max(2, lines), bottom_inches=bars)
    draw = _Canvas(fig_width, fig_height, dpi)
    for row, content, row_titles in zip(cells, contents, titles, strict=True):
        original, crop_box = shown_original(content)
        original = to_u8(original)
        draw.image(row[0], content.network_input, row_titles[0])
        col = 1
        for map01 in content.input_maps.values():
            draw.image(row[col], map01, row_titles[col], SALIENCY_COLORMAP)
            col += 1
        for maps in content.class_maps.values():
            draw.image(row[col], overlay_u8(original, crop_box, maps[0]), row_titles[col])
            col += 1
    draw.colour_bars(first)
    return draw.composition


def summary_figure(contents: Sequence[FigureContent]) -> Figure:
    """`compose_summary` as a matplotlib Figure (save it at 80 dpi)."""
    return compose_summary(contents).figure()


@dataclass
class ComparisonCell:
    """One (class, layer) of a comparison: the map normalised to [0, 1] over the network input."""

    prediction: Prediction
    layer: str            # "" for a method that uses no layer
    map01: np.ndarray     # (S, S)


def comparison_figure(content: FigureContent, method_title: str, class_map: bool,
                      cells: Sequence[Sequence[ComparisonCell]]) -> Figure:
    """One method, rows = classes, columns = layers: `python -m utilities.explain --class-index 285,281
    --layer a,b`. Column 1 is the network input; each layer then takes the map (titled with method,
    layer, class and probability) and, for class maps, its overlay on the picture."""
    rows, layers = len(cells), len(cells[0])
    per_layer = 2 if class_map else 1
    cols = 1 + per_layer * layers
    width = panel_width_inches(2.4 * cols, cols)
    size = content.network_input.shape[0]
    titles: dict[tuple[int, int], str] = {(0, 0): f"{content.title}\nnetwork input {size}x{size}"}
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            where = f" on {cell.layer}" if cell.layer else ""
            titles[r, 1 + per_layer * c] = f"{method_title}{where}\n{cell.prediction.label()}"
            if class_map:
                titles[r, 2 + per_layer * c] = f"overlay: {cell.prediction.name}{where}"
    titles = {key: wrap_text(display_name(text), width) for key, text in titles.items()}
    lines = _line_count(titles.values())
    fig = Figure(figsize=(2.4 * cols, (2.5 + _extra_title_inches(lines)) * rows + 0.4))
    axes = _grid(fig, rows, cols, title_lines=max(2, lines), top_inches=0.3)
    original, crop_box = shown_original(content)
    _show(axes[0, 0], content.network_input, titles[0, 0])
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            col = 1 + per_layer * c
            if class_map:
                _show(axes[r, col], colorize(cell.map01), titles[r, col])
                _show(axes[r, col + 1], overlay_on_original(original, crop_box, cell.map01), titles[r, col + 1])
            else:
                _show(axes[r, col], cell.map01, titles[r, col], cmap=SALIENCY_COLORMAP)
    heading = f"{method_title}: {rows} class(es) x {layers} layer(s)" if class_map and (rows > 1 or layers > 1) \
        else method_title
    fig.suptitle(wrap_text(display_name(heading), 2.4 * cols - 0.2, 10), fontsize=10,
                 y=1 - 0.06 / fig.get_size_inches()[1], va="top")
    return fig


def displayable(images: np.ndarray,
                deprocess: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """RGB in [0, 1] for showing: `deprocess` if given, else each image min-max scaled."""
    images = np.asarray(images, dtype=np.float32)
    if deprocess is not None:
        return np.clip(deprocess(images), 0.0, 1.0)
    low = images.min(axis=(-3, -2, -1), keepdims=True)
    span = images.max(axis=(-3, -2, -1), keepdims=True) - low
    return (images - low) / np.maximum(span, 1e-12)


def save_summary(contents: Sequence[FigureContent], output_dir: str | os.PathLike,
                 rows_per_page: int = SUMMARY_ROWS_PER_PAGE) -> list[Path]:
    """summary.png (and summary_2.png, ... for large folders, `rows_per_page` images each)."""
    pages = [contents[i:i + rows_per_page] for i in range(0, len(contents), rows_per_page)]
    paths = []
    for number, page in enumerate(pages, start=1):
        name = "summary.png" if number == 1 else f"summary_{number}.png"
        paths.append(compose_summary(page).save(Path(output_dir) / name))
    return paths
