"""The losses of every epoch, kept in `history.csv` beside the run and read back by `--resume`.

Keras' `History` only holds the epochs of one `fit` call; a resumed run continues the CSV. The
file is rewritten (atomically) at the end of every epoch, before that epoch's checkpoint, so it
always holds at least the checkpointed epochs; rows beyond the checkpoint (a kill between the
two writes) are dropped on resume.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from utilities.common.atomic import write_text_atomic

KERAS_KEYS = ("loss", "val_loss", "mse", "val_mse")
COLUMNS = ("train_bce", "test_bce", "train_mse", "test_mse")  # the CSV's names of KERAS_KEYS


def empty_history() -> dict[str, list[float]]:
    return {k: [] for k in KERAS_KEYS}


def write_history(history: dict[str, list[float]], dest: str | os.PathLike) -> Path:
    """history.csv: epoch, train_bce, test_bce, train_mse, test_mse (atomic)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *COLUMNS])
    for epoch, values in enumerate(zip(*(history[k] for k in KERAS_KEYS), strict=True), start=1):
        writer.writerow([epoch, *(f"{v:.6g}" for v in values)])
    return write_text_atomic(dest, out.getvalue())


def read_history(path: str | os.PathLike, epochs: int) -> tuple[dict[str, list[float]], int]:
    """The first `epochs` epochs of a history.csv, and how many of them it lacked (filled with NaN)."""
    history = empty_history()
    rows: dict[int, dict[str, str]] = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    rows[int(row["epoch"])] = row
                except (KeyError, TypeError, ValueError):
                    continue
    except FileNotFoundError:
        pass
    missing = 0
    for epoch in range(1, epochs + 1):
        row = rows.get(epoch)
        missing += row is None
        for key, column in zip(KERAS_KEYS, COLUMNS, strict=True):
            try:
                history[key].append(float(row[column]) if row else math.nan)
            except (KeyError, TypeError, ValueError):
                history[key].append(math.nan)
    return history, missing
