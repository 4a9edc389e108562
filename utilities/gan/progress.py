"""The progress figure (the handout's Fig. 10): rows of samples from the same noise as training goes on.

After every epoch (and at any global step asked for with --progress-steps, 0 = before the first
step) the run records one row of ten samples from fixed noise: the DCGAN's first ten grid
noise vectors; for the cDCGAN digit d drawn with the noise of grid column d (all ten digits,
ten styles). The rows live in `progress.npz` beside the run's other outputs (rewritten
atomically each epoch, so `--resume` keeps them, and rows past the checkpoint a run resumes
from are dropped); `progress.png` shows the rows of the chosen epochs (--progress-epochs) and
steps, top to bottom in training order.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.common.atomic import atomic_path
from utilities.common.figures import save_figure
from utilities.gan.grids import GAP, tile

ROW_LENGTH = 10
FILE_NAME = "progress.npz"


def row_indices(conditional: bool, grid_columns: int = 10) -> np.ndarray:
    """Which of the 100 fixed grid samples make a progress row (cDCGAN: the diagonal, digit d in column d)."""
    if conditional:
        return np.arange(ROW_LENGTH) * grid_columns + np.arange(ROW_LENGTH)
    return np.arange(ROW_LENGTH)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(10, H, W, 1) in [-1, 1] -> (10, H, W) uint8."""
    return np.round(np.clip((np.asarray(images, np.float32)[..., 0] + 1.0) * 127.5, 0, 255)).astype(np.uint8)


class ProgressRecord:
    """The recorded rows of one run: global step, epoch (step / steps per epoch), ten uint8 images."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / FILE_NAME
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.images: list[np.ndarray] = []

    def load(self, max_step: int) -> ProgressRecord:
        """The rows of the first `max_step` steps (what a resumed run had saved); none if the file is unreadable."""
        if not self.path.exists():
            return self
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                steps, epochs, images = saved["steps"], saved["epochs"], saved["images"]
        except (OSError, ValueError, KeyError):
            return self
        keep = steps <= max_step
        self.steps = [int(s) for s in steps[keep]]
        self.epochs = [float(e) for e in epochs[keep]]
        self.images = list(images[keep])
        return self

    def add(self, step: int, epoch: float, images: np.ndarray) -> None:
        if step in self.steps:   # the same step asked for twice (an epoch end also in --progress-steps)
            return
        self.steps.append(int(step))
        self.epochs.append(float(epoch))
        self.images.append(to_uint8(images))

    def save(self) -> Path:
        order = np.argsort(self.steps, kind="stable")
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, steps=np.array(self.steps, np.int64)[order],
                         epochs=np.array(self.epochs, np.float64)[order],
                         images=np.stack(self.images)[order] if self.images else np.zeros((0, 32, 32), np.uint8))
        return self.path

    def select(self, epochs: Iterable[int], steps: Iterable[int], steps_per_epoch: int) -> list[tuple[str, np.ndarray]]:
        """(label, images) of the recorded rows at the given epoch ends and steps, in training order."""
        wanted = {int(e) * steps_per_epoch: f"epoch {int(e)}" for e in epochs}
        for s in steps:
            wanted.setdefault(int(s), "before training" if s == 0 else f"step {int(s)}")
        rows = sorted((step, wanted[step], image) for step, image in zip(self.steps, self.images, strict=True)
                      if step in wanted)
        return [(label, image) for _, label, image in rows]


def save_progress_figure(rows: list[tuple[str, np.ndarray]], dest: str | os.PathLike, title: str,
                         column_labels: list[str] | None = None) -> Path | None:
    """One line of samples per row (labelled with its epoch or step); None when there is no row to draw."""
    if not rows:
        return None
    images = np.concatenate([image for _, image in rows]).astype(np.float32)[..., None] / 127.5 - 1.0
    grid = tile(images, ROW_LENGTH)
    width, left, right, top, bottom = 6.4, 1.2, 0.1, 0.55 + (0.25 if column_labels else 0.0), 0.08
    cell = images.shape[1] + GAP
    image_height = (width - left - right) * grid.shape[0] / grid.shape[1]
    height = image_height + top + bottom
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((left / width, bottom / height, (width - left - right) / width, image_height / height))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks([r * cell + images.shape[1] / 2 for r in range(len(rows))], [label for label, _ in rows])
    ax.tick_params(length=0)
    if column_labels:
        ax.set_xticks([c * cell + images.shape[2] / 2 for c in range(ROW_LENGTH)], column_labels)
        ax.xaxis.tick_top()
    else:
        ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    fig.suptitle(title, fontsize=9, y=1 - 0.05 / height, va="top")
    return save_figure(fig, dest)
