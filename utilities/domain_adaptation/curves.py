"""Per-epoch curves of a comparison: each variant's test accuracies over training, mean and range over seeds.

    results/domain_adaptation/comparison_curves.png   target class accuracy, source class accuracy and
                                                       domain accuracy (0.5 = indistinguishable) per epoch

The rows are the runs' `metrics.csv` rows (RunResult.rows), so the figure shows what the report
printed each epoch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.common.figures import save_figure

PANELS = (("target_accuracy", "target test accuracy"), ("source_accuracy", "source test accuracy"),
          ("domain_accuracy", "domain accuracy (test, 0.5 = chance)"))


def _series(runs: Sequence, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values of shape (runs, epochs)) over the epochs every run has."""
    per_run = [{int(row["epoch"]): row.get(key, np.nan) for row in r.rows} for r in runs]
    epochs = sorted(set.intersection(*(set(p) for p in per_run))) if per_run else []
    return np.array(epochs), np.array([[p[e] for e in epochs] for p in per_run], np.float64)


def plot_curves(results: Mapping[str, Sequence], dest: Path, title: str) -> Path:
    """One panel per PANELS entry; per variant the mean over seeds (line) and the min-max range (band)."""
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, len(PANELS))
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        for colour, (name, runs) in zip(("tab:gray", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown"),
                                        results.items(), strict=False):
            epochs, values = _series(runs, key)
            if not len(epochs):
                continue
            ax.plot(epochs, np.nanmean(values, 0), color=colour, label=f"{name} (n={len(runs)})")
            if len(runs) > 1:
                ax.fill_between(epochs, np.nanmin(values, 0), np.nanmax(values, 0), color=colour, alpha=0.15,
                                linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title + " (line: mean over seeds, band: min-max)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, dest)
