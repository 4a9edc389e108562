"""Rows of images tiled into one picture (the reconstruction grids of the PNG and of TensorBoard)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GAP = 2


def tile_rows(rows: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Equal-length batches (N, H, W, 1) -> one (R*(H+gap)-gap, N*(W+gap)-gap) image, clipped to [0, 1].

    Row r holds batch r left to right; gaps are white. Unclipped noisy inputs show clipped.
    """
    n, h, w = np.asarray(rows[0]).shape[:3]
    out = np.ones((len(rows) * (h + gap) - gap, n * (w + gap) - gap), np.float32)
    for r, batch in enumerate(rows):
        for c, image in enumerate(np.asarray(batch, np.float32)[..., 0]):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = np.clip(image, 0.0, 1.0)
    return out
