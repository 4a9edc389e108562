"""What a run measured, kept as two CSV files beside its outputs and read back by `--resume`.

    metrics.csv  one row per epoch: mean losses and D outputs, the quality numbers (class
                 entropy, within-class diversity, cDCGAN: accuracy overall and per digit,
                 fraction of samples per judged class), seconds
    steps.csv    one row per training step: the losses and D outputs of that step
Both are rewritten atomically after every epoch; rows past the checkpoint a run resumes from
(an epoch interrupted between writing them and saving the checkpoint) are dropped.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from utilities.common.atomic import write_text_atomic

STEP_FIELDS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")


def epoch_fields(conditional: bool, num_classes: int = 10) -> tuple[str, ...]:
    fields = ["epoch", "d_loss", "g_loss", "d_real", "d_fake", "entropy_bits", "diversity"]
    if conditional:
        fields += ["accuracy", *(f"accuracy_{c}" for c in range(num_classes))]
    return (*fields, *(f"fraction_{c}" for c in range(num_classes)), "seconds")


def _read(path: Path, max_epoch: int) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return [row for row in rows if row["epoch"] <= max_epoch]


def _write(path: Path, fields: tuple[str, ...], rows: list[dict[str, float]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(v) if k in ("step", "epoch") else f"{v:.6g}") for k, v in row.items()
                         if k in fields})
    write_text_atomic(path, out.getvalue())


class History:
    """Per-epoch and per-step rows of one run, with the CSV files they live in."""

    def __init__(self, run_dir: Path, conditional: bool, num_classes: int = 10):
        self.metrics_path = Path(run_dir) / "metrics.csv"
        self.steps_path = Path(run_dir) / "steps.csv"
        self.fields = epoch_fields(conditional, num_classes)
        self.epochs: list[dict[str, float]] = []
        self.steps: list[dict[str, float]] = []

    def load(self, epochs_done: int) -> History:
        """The rows of the first `epochs_done` epochs (resume)."""
        self.epochs = _read(self.metrics_path, epochs_done)
        self.steps = _read(self.steps_path, epochs_done)
        return self

    @property
    def global_step(self) -> int:
        return int(self.steps[-1]["step"]) if self.steps else 0

    def add_epoch(self, epoch_row: dict[str, float], step_rows: list[dict[str, float]]) -> None:
        self.epochs.append(epoch_row)
        self.steps.extend(step_rows)
        _write(self.metrics_path, self.fields, self.epochs)
        _write(self.steps_path, STEP_FIELDS, self.steps)

    def step_arrays(self, steps_per_epoch: int) -> dict[str, np.ndarray]:
        arrays = {k: np.array([row[k] for row in self.steps]) for k in STEP_FIELDS}
        arrays["epoch_float"] = arrays["step"] / steps_per_epoch
        return arrays

    def epoch_arrays(self) -> dict[str, np.ndarray]:
        keys = [k for k in self.fields if self.epochs and k in self.epochs[0]]
        return {k: np.array([row[k] for row in self.epochs]) for k in keys}
