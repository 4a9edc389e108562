"""A confusion matrix drawn as an image for TensorBoard (rows: true style, columns: predicted)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utilities.common.figures import rgb_png_bytes
from utilities.common.pixel_text import Text, draw_text

COLORMAP = "Blues"
COUNT_POINTS = 7
TITLE_POINTS = 9
DPI = 80


class ConfusionFigure:
    """The figure's frame (axes, class names, axis labels) drawn once by matplotlib; each epoch
    only fills the cells, writes the counts and the title into a copy of its pixels.

    Redrawing the whole matplotlib figure every epoch cost ~0.12 s of CPU (layout, 100 text
    artists, a full Agg draw and PNG), as much as a cached training epoch of 512 images on two
    cores; composing the changing parts in pixels costs a few milliseconds
    (`bench/finetune_run_bench.py --fixed-costs`). Safe to share between threads: `pixels`
    only reads the frame.
    """

    def __init__(self, class_names: Sequence[str]):
        import matplotlib
        matplotlib.use("Agg", force=False)
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

        self.class_names = list(class_names)
        n = len(self.class_names)
        size = max(4.0, 0.55 * n + 2.5)
        figure = Figure(figsize=(size, size), dpi=DPI)
        canvas = FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        ax.imshow(np.zeros((n, n)), cmap=COLORMAP, vmin=0.0, vmax=1.0)
        ax.set_xticks(range(n), labels=self.class_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels=self.class_names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        title = ax.set_title("epoch 00: accuracy 0.000", fontsize=TITLE_POINTS)   # room for the title
        figure.tight_layout()
        title.set_text("")
        canvas.draw()
        self.frame = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        height = self.frame.shape[0]
        # cell edges and the title's anchor in pixels from the top-left (matplotlib counts from the bottom)
        (x0, y0), (x1, y1) = ax.transData.transform([(-0.5, -0.5), (n - 0.5, n - 0.5)])
        self.x_edges = np.round(np.linspace(x0, x1, n + 1)).astype(int)
        self.y_edges = np.round(height - np.linspace(y0, y1, n + 1)).astype(int)
        tx, ty = title.get_transform().transform(title.get_position())
        self.title_anchor = (float(tx), float(height - ty))
        self.lut = np.round(colormaps[COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)

    def pixels(self, matrix: np.ndarray, title: str = "") -> np.ndarray:
        """(H, W, 3) uint8 RGB of `matrix` (counts): row-normalised colours, the counts written in.

        Rows are normalised so a rare class is as readable as a frequent one; the numbers stay
        raw counts so nothing is hidden.
        """
        matrix = np.asarray(matrix, dtype=np.int64)
        n = len(self.class_names)
        if matrix.shape != (n, n):
            raise ValueError(f"confusion matrix shape {matrix.shape} does not match {n} class names")
        rows = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=np.float64), where=rows > 0)
        colours = self.lut[np.clip((share * 256).astype(int), 0, 255)]   # as imshow's Normalize(0, 1)
        out = self.frame.copy()
        for i in range(n):
            top, bottom = sorted((self.y_edges[i], self.y_edges[i + 1]))
            for j in range(n):
                left, right = self.x_edges[j], self.x_edges[j + 1]
                out[top:bottom, left:right] = colours[i, j]
                draw_text(out, Text(str(matrix[i, j]), (left + right) / 2, (top + bottom) / 2, COUNT_POINTS,
                                    va="center", colour=(255, 255, 255) if share[i, j] > 0.5 else (0, 0, 0)), DPI)
        if title:
            draw_text(out, Text(title, *self.title_anchor, TITLE_POINTS), DPI)
        return out

    def png(self, matrix: np.ndarray, title: str = "") -> bytes:
        """The same picture as PNG bytes."""
        return rgb_png_bytes(self.pixels(matrix, title))


def confusion_matrix_png(matrix: np.ndarray, class_names: Sequence[str], *, title: str = "") -> bytes:
    """One-off form of `ConfusionFigure(class_names).png(matrix, title)`."""
    return ConfusionFigure(class_names).png(matrix, title)
