"""Sample grids: tiled into one image (TensorBoard) and drawn as a labelled PNG."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.common.figures import save_figure
from utilities.gan.data import to_unit_range

GAP = 2


def tile(images: np.ndarray, columns: int, gap: int = GAP) -> np.ndarray:
    """(N, H, W, 1) in [-1, 1] -> one (rows*(H+gap)-gap, columns*(W+gap)-gap) image in [0, 1], gaps white."""
    images = to_unit_range(images)[..., 0]
    n, h, w = images.shape
    rows = -(-n // columns)
    out = np.ones((rows * (h + gap) - gap, columns * (w + gap) - gap), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out


def save_grid(images: np.ndarray, dest: str | os.PathLike, columns: int, title: str,
              row_labels: Sequence[str] | None = None) -> Path:
    """Write the grid as a PNG; `row_labels` (cDCGAN: the requested digit) go left of each row."""
    grid = tile(images, columns)
    rows = -(-len(images) // columns)
    fig = Figure(figsize=(6.4, 6.4 * grid.shape[0] / grid.shape[1] + 0.5))
    ax = fig.add_axes((0.08, 0.02, 0.9, 0.9))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    cell = images.shape[1] + GAP
    if row_labels:
        ax.set_yticks([r * cell + images.shape[1] / 2 for r in range(rows)], list(row_labels)[:rows])
        ax.tick_params(axis="y", length=0)
        ax.set_ylabel("requested digit")
    else:
        ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, dest)
