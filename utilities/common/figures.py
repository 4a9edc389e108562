"""Write matplotlib figures atomically (every program's PNGs go through here)."""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from utilities.common.atomic import atomic_path


def save_figure(fig: Figure, dest: str | os.PathLike, dpi: int = 100) -> Path:
    """Write `fig` atomically (PNG by extension) and free it."""
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=dpi)
    fig.clear()
    return Path(dest)
