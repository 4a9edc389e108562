"""`evaluate_methods`: every metric for every method (and the two baselines) in one table + plots.

Columns: deletion AUC (lower is better), insertion AUC (higher), the model-randomisation
Spearman correlation after the last cascade stage (lower: the map depends on the weights),
the pointing-game hit rate when object boxes are given, and seconds per image. The random
and edge-detector maps are always added, so each number can be read against "no
information" and "just the image's edges".

Outputs in `output_dir` (when given): evaluation.csv, evaluation.md (the table),
deletion.png, insertion.png, randomisation.png (mean correlation per stage), and
randomisation_maps.png (image 0's maps as layers are randomised).
"""
from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from utilities.common.atomic import write_text_atomic
from utilities.common.figures import save_figure
from utilities.explain.base import Explainer, Preprocess, normalise_maps
from utilities.explain.baselines import EdgeMap, RandomMap
from utilities.explain.metrics.deletion_insertion import Curves, CurveScorer
from utilities.explain.metrics.pointing_game import pointing_game
from utilities.explain.metrics.randomisation import RandomisationResult, model_randomisation

ExplainerFactory = Callable[[keras.Model], Mapping[str, Explainer]]
COLUMNS = ("method", "deletion_auc", "insertion_auc", "randomisation_spearman", "pointing_game",
           "seconds_per_image")


@dataclass
class EvaluationReport:
    """Per method: curves, randomisation, pointing game, timing; `rows` is the table."""

    classes: np.ndarray                                   # (N,) explained (top-1) classes
    curves: dict[str, Curves]
    randomisation: RandomisationResult | None
    pointing: dict[str, float]
    seconds_per_image: dict[str, float]
    written: list[Path] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        return list(self.curves)

    @property
    def rows(self) -> list[dict]:
        rows = []
        for name in self.methods:
            rand = (float(self.randomisation.mean(name)[-1]) if self.randomisation is not None
                    else float("nan"))
            rows.append({"method": name,
                         "deletion_auc": float(self.curves[name].deletion_auc.mean()),
                         "insertion_auc": float(self.curves[name].insertion_auc.mean()),
                         "randomisation_spearman": rand,
                         "pointing_game": self.pointing.get(name, float("nan")),
                         "seconds_per_image": self.seconds_per_image[name]})
        return rows

    def format_table(self) -> str:
        """Markdown table, one row per method (arrows say which way is better)."""
        header = ("| method | deletion AUC (lower better) | insertion AUC (higher better) | "
                  "randomisation Spearman (lower better) | pointing game | s / image |")
        lines = [header, "|" + "---|" * 6]
        for row in self.rows:
            cells = [row["method"]] + [_cell(row[c]) for c in COLUMNS[1:5]]
            cells.append(f"{row['seconds_per_image']:.3g}")
            lines.append("| " + " | ".join(cells) + " |")
        if self.randomisation is not None:
            lines.append(f"\nRandomisation: Spearman after randomising every layer down to "
                         f"'{self.randomisation.stages[-1]}' (cascading, top-down).")
        return "\n".join(lines)


def _cell(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def evaluate_methods(model: keras.Model, images, make_explainers: ExplainerFactory, *,
                     preprocess: Preprocess | None = None, classes=None, boxes=None,
                     pointing_tolerance: int = 0, baselines: bool = True, steps: int = 32,
                     deletion_fill: str = "zeros", insertion_start: str = "blur", blur_sigma: float = 5.0,
                     randomisation_stages: int | Sequence[str] | None = 4, pass_batch: int = 32,
                     output_dir: str | os.PathLike | None = None, seed: int = 0,
                     echo: Callable[[str], None] | None = None) -> EvaluationReport:
    """Evaluate the explainers `make_explainers(model)` on `images` (the explainers' input space).

    Args:
        make_explainers: model -> {name: Explainer}; called again on each randomised copy
            (e.g. `lambda m: build_explainers(m, methods, preprocess, layer, batch_size)`).
        preprocess: what the explainers apply (used to score the deletion/insertion variants).
        classes: (N,) classes to explain; None: each image's top-1 class on `model`.
        boxes: (N, 4) object boxes (top, left, bottom, right) for the pointing game, or None;
            pointing_tolerance: pixels the boxes are grown by (see `pointing_game`).
        randomisation_stages: cascade stages (int: evenly spread; names; None: every layer);
            0 skips the randomisation check.
        steps, deletion_fill, insertion_start, blur_sigma, pass_batch: see `CurveScorer`.
    """
    images = np.asarray(images, dtype=np.float32)
    say = echo or (lambda _: None)

    built = []

    def all_explainers(m: keras.Model) -> dict[str, Explainer]:
        explainers = dict(make_explainers(m))
        if baselines:  # fresh noise per model: its randomisation correlation is the chance level
            explainers[RandomMap.name] = RandomMap(m, preprocess, seed=seed + len(built))
            built.append(m)
            explainers[EdgeMap.name] = EdgeMap(m, preprocess)
        return explainers

    explainers = all_explainers(model)
    if classes is None:
        first = next(iter(explainers.values()))
        classes = first.explain(images, top_k=1).classes[:, 0]
    classes = np.asarray(classes, dtype=np.int32).reshape(-1)
    scorer = CurveScorer(model, preprocess, steps=steps, deletion_fill=deletion_fill,
                         insertion_start=insertion_start, blur_sigma=blur_sigma, pass_batch=pass_batch)
    curves, pointing, timing = {}, {}, {}
    for name, explainer in explainers.items():
        say(f"evaluating {name}")
        _warm_up(explainer, images, classes)
        start = time.perf_counter()
        maps = explainer.explain(images, classes[:, None]).maps[:, 0]
        timing[name] = (time.perf_counter() - start) / len(images)
        curves[name] = scorer.curves(images, maps, classes, seed=seed)
        if boxes is not None:
            pointing[name] = pointing_game(maps, np.asarray(boxes), images.shape[1:3],
                                           tolerance=pointing_tolerance).hit_rate
    randomisation = None
    if randomisation_stages != 0:
        randomisation = model_randomisation(model, images, all_explainers, classes,
                                            stages=randomisation_stages, seed=seed,
                                            progress=lambda layer: say(f"randomised down to {layer}"))
    report = EvaluationReport(classes, curves, randomisation, pointing, timing)
    if output_dir is not None:
        report.written = save_evaluation(report, output_dir)
    return report


def _warm_up(explainer: Explainer, images: np.ndarray, classes: np.ndarray) -> None:
    """Trace every chunk shape `explain` will use (a full chunk and the remainder), untimed."""
    size = min(explainer.batch_size, len(images))
    explainer.explain(images[:size], classes[:size, None])
    if len(images) % size:
        rest = len(images) % size
        explainer.explain(images[-rest:], classes[-rest:, None])


def save_evaluation(report: EvaluationReport, output_dir: str | os.PathLike) -> list[Path]:
    """Write the table (CSV + markdown) and one plot per metric; returns the paths."""
    output_dir = Path(output_dir)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(report.rows)
    written = [write_text_atomic(output_dir / "evaluation.csv", buffer.getvalue()),
               write_text_atomic(output_dir / "evaluation.md", report.format_table() + "\n")]
    for metric in ("deletion", "insertion"):
        written.append(save_figure(curve_figure(report, metric), output_dir / f"{metric}.png"))
    if report.randomisation is not None:
        written.append(save_figure(randomisation_figure(report.randomisation), output_dir / "randomisation.png"))
        written.append(save_figure(randomisation_maps_figure(report.randomisation),
                             output_dir / "randomisation_maps.png"))
    return written


def curve_figure(report: EvaluationReport, metric: str) -> Figure:
    """Mean deletion or insertion curve per method, AUC in the legend."""
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    ax.set_prop_cycle(color=colormaps["tab20"].colors)  # more than 10 methods stay distinct
    for name, curves in report.curves.items():
        values = getattr(curves, metric)
        auc = getattr(curves, f"{metric}_auc").mean()
        style = "--" if name in (RandomMap.name, EdgeMap.name) else "-"
        ax.plot(curves.fractions, values.mean(axis=0), style, label=f"{name} (AUC {auc:.3f})")
    ax.set_xlabel(f"fraction of pixels {'removed' if metric == 'deletion' else 'inserted'}")
    ax.set_ylabel("class score")
    ax.set_title(f"{metric.capitalize()} ({'lower' if metric == 'deletion' else 'higher'} AUC is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def randomisation_figure(result: RandomisationResult) -> Figure:
    """Mean Spearman correlation with the intact model's maps, per cascade stage."""
    fig = Figure(figsize=(max(6, 0.5 * len(result.stages) + 3), 4.2))
    ax = fig.add_subplot()
    ax.set_prop_cycle(color=colormaps["tab20"].colors)
    x = np.arange(len(result.stages) + 1)
    for name in result.correlations:
        style = "--" if name in (RandomMap.name, EdgeMap.name) else "-o"
        ax.plot(x, np.concatenate([[1.0], result.mean(name)]), style, label=name, markersize=3)
    ax.set_xticks(x, ["intact"] + result.stages, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("Spearman rank correlation")
    ax.set_title("Cascading model randomisation (top-down)")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def randomisation_maps_figure(result: RandomisationResult) -> Figure:
    """Rows: methods; columns: intact model, then each stage (image 0, maps normalised)."""
    names = list(result.maps)
    columns = len(result.stages) + 1
    fig = Figure(figsize=(1.4 * columns + 1, 1.4 * len(names) + 0.6))
    for r, name in enumerate(names):
        maps = result.maps[name]
        shown = normalise_maps(maps - maps.min(axis=(1, 2), keepdims=True))
        for c in range(columns):
            ax = fig.add_subplot(len(names), columns, r * columns + c + 1)
            ax.imshow(shown[c], cmap="hot", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("intact" if c == 0 else result.stages[c - 1], fontsize=6)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    return fig
