"""How many model inputs go through one forward/backward pass (multi-pass methods, curves)."""
from __future__ import annotations

import math


def passes_for(total: int, pass_batch: int, batch_size: int) -> tuple[int, int]:
    """(items per pass, number of passes) covering `total` items with <= pass_batch inputs a pass.

    Items per pass is balanced so the last pass wastes as little as possible.
    """
    most = max(1, pass_batch // batch_size)
    count = math.ceil(total / most)
    return math.ceil(total / count), count
