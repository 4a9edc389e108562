"""What a run writes under the output folder: the sweep table and plot, per-class accuracy,
confusion matrices and a text report (every file atomically)."""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.common.atomic import write_text_atomic
from utilities.common.figures import save_figure

SWEEP_COLUMNS = ("layer", "description", "dim", "classifier", "C", "cv_accuracy", "train_accuracy",
                 "test_accuracy", "chosen", "reduction", "classifier_dim", "reduce_seconds", "fit_seconds",
                 "predict_seconds")


@dataclass
class SweepRow:
    layer: str
    description: str
    dim: int
    classifier: str
    C: float
    cv_accuracy: float | None
    train_accuracy: float
    test_accuracy: float
    chosen: bool = False
    reduction: str = "none"            # --reduce's value: none, pca:64, ...
    classifier_dim: int | None = None  # what the classifier sees (dim after the reduction)
    reduce_seconds: float = 0.0        # fitting the reduction on the training features + transforming both
    fit_seconds: float = 0.0           # fitting the classifier (this C) on the training features
    predict_seconds: float = 0.0       # predicting the test features

    @property
    def series(self) -> str:
        """The layer, and the reduction when there is one: one line or bar group per series."""
        return self.layer if self.reduction == "none" else f"{self.layer} {self.reduction}"


@dataclass
class LayerResult:
    """The chosen C of one layer, evaluated on the test images."""

    layer: str
    description: str
    C: float
    accuracy: float
    confusion: np.ndarray          # rows: true class, columns: predicted
    files: list[Path] = field(default_factory=list)

    @property
    def per_class(self) -> np.ndarray:
        totals = self.confusion.sum(axis=1)
        return np.divide(np.diag(self.confusion), totals, out=np.zeros(len(totals)), where=totals > 0)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def write_sweep_csv(rows: Sequence[SweepRow], dest: str | os.PathLike) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SWEEP_COLUMNS)
    for r in rows:
        writer.writerow([r.layer, r.description, r.dim, r.classifier, f"{r.C:g}", _fmt(r.cv_accuracy),
                         _fmt(r.train_accuracy), _fmt(r.test_accuracy), int(r.chosen), r.reduction,
                         r.classifier_dim or r.dim, f"{r.reduce_seconds:.4f}", f"{r.fit_seconds:.4f}",
                         f"{r.predict_seconds:.4f}"])
    return write_text_atomic(dest, out.getvalue())


def plot_sweep(rows: Sequence[SweepRow], dest: str | os.PathLike, title: str) -> Path:
    """Test (solid) and cross-validated (dashed) accuracy against C, one colour per layer;
    bars per layer when a single C was run."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    layers = list(dict.fromkeys(r.series for r in rows))
    if len({r.C for r in rows}) == 1:
        values = [next(r.test_accuracy for r in rows if r.series == layer) for layer in layers]
        ax.bar(layers, values, color="tab:blue")
        if len(layers) > 4:
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        for i, v in enumerate(values):
            ax.text(i, v, f"{100 * v:.1f}%", ha="center", va="bottom", fontsize=8)
        ax.set_xlabel(f"layer (C = {rows[0].C:g})")
    else:
        for i, layer in enumerate(layers):
            mine = sorted((r for r in rows if r.series == layer), key=lambda r: r.C)
            colour = f"C{i % 10}"
            ax.plot([r.C for r in mine], [r.test_accuracy for r in mine], "o-", color=colour, label=f"{layer} test")
            if any(r.cv_accuracy is not None for r in mine):
                ax.plot([r.C for r in mine], [r.cv_accuracy for r in mine], "s--", color=colour, alpha=0.6,
                        label=f"{layer} cross-validated")
        ax.set_xscale("log")
        ax.set_xlabel("C")
        ax.legend(fontsize=7)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, dest)


def plot_confusion(result: LayerResult, class_names: Sequence[str], dest: str | os.PathLike, title: str) -> Path:
    """Row-normalised confusion matrix (each true class sums to 1), counts in the cells."""
    k = len(class_names)
    totals = result.confusion.sum(axis=1, keepdims=True)
    rates = np.divide(result.confusion, totals, out=np.zeros(result.confusion.shape), where=totals > 0)
    side = max(4.5, 0.45 * k + 2.5)
    fig = Figure(figsize=(side + 1, side))
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(k), class_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if result.confusion[i, j]:
                    ax.text(j, i, str(result.confusion[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, dest)


def write_per_class_csv(result: LayerResult, class_names: Sequence[str], dest: str | os.PathLike) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("label", "class", "test_images", "correct", "accuracy"))
    for i, name in enumerate(class_names):
        writer.writerow((i, name, int(result.confusion[i].sum()), int(result.confusion[i, i]),
                         f"{result.per_class[i]:.4f}"))
    return write_text_atomic(dest, out.getvalue())


def text_report(header: Sequence[str], rows: Sequence[SweepRow], results: Sequence[LayerResult],
                class_names: Sequence[str], notes: Sequence[str]) -> str:
    lines = list(header)
    reduced = any(r.reduction != "none" for r in rows)
    lines.append(f"  {'layer':<22}{'dim':>8}" + (f"{'reduce':>16}{'to':>6}" if reduced else "")
                 + f"{'C':>9}{'cv acc':>9}{'train':>8}{'test':>8}{'fit s':>9}{'pred s':>8}")
    for r in rows:
        mark = "  <- chosen" if r.chosen and len(rows) > len(results) else ""
        cv = "" if r.cv_accuracy is None else f"{100 * r.cv_accuracy:.1f}%"
        to = f"{r.reduction:>16}{r.classifier_dim or r.dim:>6}" if reduced else ""
        lines.append(f"  {r.layer:<22}{r.dim:>8}{to}{r.C:>9g}{cv:>9}{100 * r.train_accuracy:>7.1f}%"
                     f"{100 * r.test_accuracy:>7.1f}%{r.reduce_seconds + r.fit_seconds:>9.3f}"
                     f"{r.predict_seconds:>8.3f}{mark}")
    width = max((len(n) for n in class_names), default=5)
    for result in results:
        lines.append(f"{result.description}, C={result.C:g}: test accuracy {100 * result.accuracy:.2f}% "
                     f"({int(np.trace(result.confusion))}/{int(result.confusion.sum())}); per class:")
        cols = 3 if width < 18 else 2
        cells = [f"{name:<{width}} {100 * acc:5.1f}%" for name, acc in zip(class_names, result.per_class, strict=True)]
        for i in range(0, len(cells), cols):
            lines.append("    " + "   ".join(cells[i:i + cols]))
        lines += [f"  wrote {path}" for path in result.files]
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)

