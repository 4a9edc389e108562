"""2-D maps of source and target features (t-SNE or PCA), coloured by domain and by class.

Before adaptation (source-only) the two domains form separate clouds; after DANN they
overlap while the classes stay apart, the picture of the paper's Figure 5.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.common.figures import save_figure

EMBEDDINGS = ("tsne", "pca", "none")
POINTS_PER_DOMAIN = 500


@dataclass(frozen=True)
class FeatureSample:
    """Features of (up to POINTS_PER_DOMAIN) test images per domain, with their labels."""

    title: str
    source: np.ndarray
    source_labels: np.ndarray
    target: np.ndarray
    target_labels: np.ndarray


def sample_indices(n: int, seed: int, limit: int = POINTS_PER_DOMAIN) -> np.ndarray:
    """A seeded subset of range(n), sorted (the same images for every run of a dataset)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def embed(features: np.ndarray, method: str, seed: int) -> np.ndarray:
    """(N, D) -> (N, 2) by t-SNE (sklearn, PCA init, seeded) or PCA (ValueError on NaN/inf features: t-SNE
    would crash the process)."""
    if not np.isfinite(features).all():
        raise ValueError("the features are not finite (NaN/inf); nothing to map")
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(2, random_state=seed).fit_transform(features)
    from sklearn.manifold import TSNE
    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    return TSNE(2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(features)


def class_legend_handles(labels: np.ndarray, class_names: Sequence[str] | None = None) -> list:
    """Legend entries for the by-class panel: one colour per class present, then the two markers."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    cmap = colormaps["tab10"]
    names = list(class_names) if class_names is not None else [str(c) for c in range(10)]
    handles = [Line2D([], [], ls="", marker="s", ms=6, color=cmap(int(c) % 10), label=names[int(c)])
               for c in np.unique(labels)]
    handles += [Line2D([], [], ls="", marker="o", ms=5, mfc="none", color="0.2", label="source"),
                Line2D([], [], ls="", marker="x", ms=5, color="0.2", label="target")]
    return handles


def plot_features(samples: Sequence[FeatureSample], dest: Path, method: str = "tsne", seed: int = 0,
                  class_names: Sequence[str] | None = None) -> Path:
    """One row per sample: left coloured by domain (source blue, target orange), right by class, with a legend
    naming each class's colour (`class_names`, default the digits 0-9)."""
    fig = Figure(figsize=(10.5, 4.2 * len(samples)))
    axes = fig.subplots(len(samples), 2, squeeze=False)
    for row, sample in zip(axes, samples, strict=True):
        points = embed(np.concatenate([sample.source, sample.target]), method, seed)
        ns = len(sample.source)
        row[0].scatter(*points[:ns].T, s=5, c="tab:blue", alpha=0.6, label="source")
        row[0].scatter(*points[ns:].T, s=5, c="tab:orange", alpha=0.6, label="target")
        row[0].legend(loc="best", markerscale=3)
        row[0].set_title("by domain")
        row[0].set_ylabel(sample.title)
        labels = np.concatenate([sample.source_labels, sample.target_labels])
        markers = np.r_[np.zeros(ns, bool), np.ones(len(sample.target), bool)]
        for is_target, marker in ((False, "o"), (True, "x")):
            chosen = markers == is_target
            row[1].scatter(*points[chosen].T, s=6, c=labels[chosen], cmap="tab10", vmin=-0.5, vmax=9.5,
                           marker=marker, alpha=0.7, linewidths=0.6)
        row[1].set_title("by class (o source, x target)")
        row[1].legend(handles=class_legend_handles(labels, class_names), title="class", loc="center left",
                      bbox_to_anchor=(1.01, 0.5), fontsize=8, title_fontsize=8, frameon=False)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"features of the test images ({'t-SNE' if method == 'tsne' else 'PCA'})")
    fig.tight_layout()
    return save_figure(fig, dest)
