"""Write matplotlib figures atomically (every program's PNGs go through here)."""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from utilities.common.atomic import atomic_path

COMPRESS_LEVEL = 1
"""zlib level of the PNGs: 1 instead of PIL's 6 writes them several times faster, a little larger."""


def save_figure(fig: Figure, dest: str | os.PathLike, dpi: int = 100) -> Path:
    """Write `fig` atomically (PNG by extension).

    No `fig.clear()` afterwards: a pyplot-free Figure is freed with its last reference, and
    clearing rebuilds every axis (it cost as much as drawing).
    """
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=dpi, pil_kwargs={"compress_level": COMPRESS_LEVEL})
    return Path(dest)
