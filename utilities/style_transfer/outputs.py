"""Everything a run writes, each file atomically (temporary name, then rename).

For a result `OUT.png`: `OUT_comparison.png` (content | style | result), `OUT_losses.png` (the
three weighted losses and their sum per iteration from iteration 0, the starting picture; log
scale), `OUT_losses.csv` (the same numbers), `OUT_run.json` (settings, resolved loss weights,
first and last losses, time) and, every --save-every iterations, `OUT_steps/iter_NNNN.png`.
"""
from __future__ import annotations

import csv
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from utilities.common.atomic import atomic_path, write_text_atomic
from utilities.common.figures import save_figure
from utilities.style_transfer.images import to_uint8
from utilities.style_transfer.objective import LossTerms


@dataclass(frozen=True)
class OutputPaths:
    """Where one run's files go, all derived from the result image's path."""

    result: Path

    def _beside(self, suffix: str) -> Path:
        return self.result.with_name(f"{self.result.stem}_{suffix}")

    @property
    def comparison(self) -> Path:
        return self._beside("comparison.png")

    @property
    def losses_figure(self) -> Path:
        return self._beside("losses.png")

    @property
    def losses_csv(self) -> Path:
        return self._beside("losses.csv")

    @property
    def run_json(self) -> Path:
        return self._beside("run.json")

    @property
    def steps(self) -> Path:
        return self._beside("steps")

    def step(self, iteration: int) -> Path:
        return self.steps / f"iter_{iteration:04d}.png"


def save_image(image: np.ndarray, dest: str | Path) -> Path:
    """Write float RGB 0..255 (h, w, 3) as an image file (format by extension), atomically."""
    dest = Path(dest)
    ok, encoded = cv2.imencode(dest.suffix or ".png", cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV cannot write {dest.suffix!r} images; use .png or .jpg")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return dest


def save_comparison(content: np.ndarray, style: np.ndarray, result: np.ndarray, dest: Path,
                    title: str = "") -> Path:
    """Content, style and result side by side."""
    aspect = max(content.shape[0] / content.shape[1], style.shape[0] / style.shape[1])
    fig = Figure(figsize=(12, 4 * aspect + (0.7 if title else 0.4)), layout="constrained")
    for ax, image, name in zip(fig.subplots(1, 3), (content, style, result), ("content", "style", "result"),
                               strict=True):
        ax.imshow(to_uint8(image))
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, dest)


def loss_curve_figure(initial: LossTerms, history: list[LossTerms], title: str = "") -> Figure:
    """Weighted content, style, TV losses and their total from iteration 0 (the starting picture) on.

    Log scale; when a loss is exactly 0 (the content loss at iteration 0 of a run started from
    the content picture) the axis is symmetric-log, linear below the smallest positive value, so
    the start is drawn at 0 instead of being dropped.
    """
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    points = [initial, *history]
    steps = np.arange(len(points))
    series = {name: np.array([getattr(h, name) for h in points], np.float64)
              for name in ("total", "content", "style", "tv")}
    for name, values in series.items():
        ax.plot(steps, values, label=name, linewidth=2 if name == "total" else 1.2)
        ax.plot(steps[:1], values[:1], "o", color=ax.lines[-1].get_color(), markersize=4)
    every = np.concatenate(list(series.values()))
    positive = every[every > 0]
    if positive.size and np.any(every <= 0):
        # linear below a tenth of the smallest final loss: the climb from 0 is drawn, empty decades are not
        final = np.array([values[-1] for values in series.values()])
        scale = final[final > 0].min() / 10 if np.any(final > 0) else positive.min()
        ax.set_yscale("symlog", linthresh=10.0 ** np.floor(np.log10(scale)))
        ax.set_ylim(bottom=0)
    elif positive.size:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration (0: the starting picture)")
    ax.set_ylabel("weighted loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(textwrap.fill(title, 90), fontsize=9)
    return fig


def save_loss_curves(initial: LossTerms, history: list[LossTerms], dest: Path, title: str = "") -> Path:
    """loss_curve_figure written to `dest` (atomically)."""
    return save_figure(loss_curve_figure(initial, history, title), dest)


def write_losses_csv(initial: LossTerms, history: list[LossTerms], dest: Path) -> Path:
    """iteration, content, style, tv, total; iteration 0 is the starting picture."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["iteration", "content", "style", "tv", "total"])
    for i, h in enumerate([initial, *history]):
        writer.writerow([i, f"{h.content:.8g}", f"{h.style:.8g}", f"{h.tv:.8g}", f"{h.total:.8g}"])
    return write_text_atomic(dest, buffer.getvalue())


def write_run_json(record: dict, dest: Path) -> Path:
    """The run's settings and results as indented JSON."""
    return write_text_atomic(dest, json.dumps(record, indent=2, sort_keys=False) + "\n")
