"""A confusion matrix drawn as an image for TensorBoard (rows: true style, columns: predicted)."""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np


class ConfusionFigure:
    """One matplotlib figure per run, redrawn with each epoch's counts.

    Laying the figure out (ticks, labels, `tight_layout`) costs as much as drawing it, and
    only the colours, counts and title change between epochs: they are updated in place.
    Not thread-safe: one figure per drawing thread.
    """

    def __init__(self, class_names: Sequence[str]):
        import matplotlib
        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

        self.class_names = list(class_names)
        n = len(self.class_names)
        size = max(4.0, 0.55 * n + 2.5)
        self.figure = Figure(figsize=(size, size), dpi=80)
        ax = self.figure.add_subplot()
        self.image = ax.imshow(np.zeros((n, n)), cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(n), labels=self.class_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels=self.class_names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        self.title = ax.set_title("epoch 00: accuracy 0.000", fontsize=9)
        self.counts = [[ax.text(j, i, "0", ha="center", va="center", fontsize=7) for j in range(n)]
                       for i in range(n)]
        self.figure.tight_layout()

    def png(self, matrix: np.ndarray, title: str = "") -> bytes:
        """PNG bytes of `matrix` (counts) with row-normalised colours and the counts written in.

        Rows are normalised so a rare class is as readable as a frequent one; the numbers stay
        raw counts so nothing is hidden.
        """
        matrix = np.asarray(matrix, dtype=np.int64)
        n = len(self.class_names)
        if matrix.shape != (n, n):
            raise ValueError(f"confusion matrix shape {matrix.shape} does not match {n} class names")
        rows = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=np.float64), where=rows > 0)
        self.image.set_data(share)
        self.title.set_text(title)
        for i in range(n):
            for j in range(n):
                self.counts[i][j].set_text(str(matrix[i, j]))
                self.counts[i][j].set_color("white" if share[i, j] > 0.5 else "black")
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        return buffer.getvalue()


def confusion_matrix_png(matrix: np.ndarray, class_names: Sequence[str], *, title: str = "") -> bytes:
    """One-off form of `ConfusionFigure(class_names).png(matrix, title)`."""
    return ConfusionFigure(class_names).png(matrix, title)
