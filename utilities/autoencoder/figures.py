"""The run's PNGs: loss curves, the reconstruction grid, and the CAE's 2-D map beside PCA's."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.autoencoder.grids import GAP, tile_rows
from utilities.common.figures import save_figure


def save_losses(history: dict[str, Sequence[float]], dest: str | os.PathLike, title: str) -> Path:
    """Train and test binary cross-entropy per epoch (`history`: Keras' History.history)."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    marker = "." if len(epochs) <= 40 else None
    ax.plot(epochs, history["loss"], marker=marker, label="train")
    ax.plot(epochs, history["val_loss"], marker=marker, label="test")
    ax.set(xlabel="epoch", ylabel="binary cross-entropy per pixel", title=title)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, dest)


def save_reconstructions(rows: dict[str, np.ndarray], dest: str | os.PathLike, title: str,
                         column_labels: Sequence[str]) -> Path:
    """One labelled row per entry of `rows` (e.g. test images, noisy inputs, CAE, PCA), one column per image."""
    grid = tile_rows(list(rows.values()))
    size = next(iter(rows.values())).shape[1]
    fig = Figure(figsize=(1.0 + 0.75 * len(column_labels), 0.8 + 0.75 * len(rows)))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    cell = size + GAP
    ax.set_yticks([r * cell + size / 2 for r in range(len(rows))], list(rows))
    ax.set_xticks([c * cell + size / 2 for c in range(len(column_labels))], list(column_labels),
                  rotation=45, ha="right", fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, dest)


def _to_2d(codes: np.ndarray) -> tuple[np.ndarray, str]:
    """Codes of more than two dimensions are shown on their first two principal components."""
    if codes.shape[1] <= 2:
        return codes, ""
    from sklearn.decomposition import PCA
    return PCA(2).fit_transform(codes), f" (PCA to 2-D of the {codes.shape[1]}-D codes)"


def save_latent_maps(maps: dict[str, np.ndarray], labels: np.ndarray, class_names: Sequence[str],
                     dest: str | os.PathLike, title: str) -> Path:
    """Scatter plots side by side (e.g. 'CAE code', 'PCA'), coloured by class, one legend with the names."""
    fig = Figure(figsize=(5.2 * len(maps) + 1.6, 5.0), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    colours = [f"C{c}" for c in range(10)] if len(class_names) <= 10 else None
    for ax, (name, codes) in zip(axes, maps.items(), strict=True):
        points, note = _to_2d(np.asarray(codes))
        for c, class_name in enumerate(class_names):
            mine = labels == c
            ax.scatter(points[mine, 0], points[mine, 1], s=7, alpha=0.7, label=class_name,
                       color=colours[c] if colours else None)
        ax.set(title=name + note, xlabel="dimension 1", ylabel="dimension 2")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right center", markerscale=2.5, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, dest)
