"""A confusion matrix drawn as an image for TensorBoard (rows: true style, columns: predicted)."""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np


def confusion_matrix_png(matrix: np.ndarray, class_names: Sequence[str], *, title: str = "") -> bytes:
    """PNG bytes of `matrix` (counts) with row-normalised colours and the counts written in.

    Rows are normalised so a rare class is as readable as a frequent one; the numbers stay
    raw counts so nothing is hidden.
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

    matrix = np.asarray(matrix, dtype=np.int64)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix shape {matrix.shape} does not match {n} class names")
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=np.float64), where=rows > 0)

    size = max(4.0, 0.55 * n + 2.5)
    fig = Figure(figsize=(size, size), dpi=80)
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
