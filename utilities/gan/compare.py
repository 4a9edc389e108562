"""`gan.py --compare-lr`: train one run per (lr_d, lr_g) pair and compare them (the handout's Figs. 13-16).

Every pair of `--lr-d-values` x `--lr-g-values` (default 2e-4 and 1e-3 each: four runs) is an
ordinary run, with every other flag as given, in its own folder of the comparison's folder:

    results/gan/C/lr_d0.0002_lr_g0.001/   samples.png, progress.png, metrics.csv, ... (as any run)
    results/gan/C/lr_samples.png           the runs' final sample grids side by side (rows: lr_d,
                                           columns: lr_g), each titled with the judge's numbers
    results/gan/C/lr_table.csv             one row per pair: the last epoch's losses, D outputs,
                                           class entropy, diversity, cDCGAN accuracy, seconds
    logs/gan/C/lr_d..._lr_g.../            TensorBoard, one run per pair (compare them there too)

C is `--run-name`, by default `<model>_<dataset>_lr`. The comparison's folder is claimed like a
run's (locked; a folder holding an earlier comparison is refused unless --resume continues it,
pair by pair, or --overwrite starts every pair over). A pair whose losses become NaN is a result,
not a failure: its row says at which epoch, with the numbers of its last finished epoch, and the
comparison goes on with the next pair.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from utilities.common.atomic import write_text_atomic
from utilities.common.figures import save_figure
from utilities.common.run_folder import RunFolderError, claim_run_folder
from utilities.gan.config import GanConfig, UsageError
from utilities.gan.data import GanImages
from utilities.gan.experiment import DiskFull, NonFiniteLoss, check_outputs, disk_full, load_data, run_gan
from utilities.gan.grids import tile
from utilities.gan.history import History

FIGURE_NAME = "lr_samples.png"
TABLE_NAME = "lr_table.csv"
NUMBER_FIELDS = ("d_loss", "g_loss", "d_real", "d_fake", "entropy_bits", "diversity", "accuracy")


@dataclass
class PairResult:
    """One (lr_d, lr_g) run: its last finished epoch's row, its final samples (None if it diverged)."""

    lr_d: float
    lr_g: float
    run_dir: Path
    last: dict[str, float]
    samples: np.ndarray | None
    status: str
    seconds: float


@dataclass
class Comparison:
    folder: Path
    pairs: list[PairResult]
    judge_accuracy: float | None
    table: str


def pair_name(lr_d: float, lr_g: float) -> str:
    return f"lr_d{lr_d:g}_lr_g{lr_g:g}"


def _pair_config(config: GanConfig, lr_d: float, lr_g: float) -> GanConfig:
    folder = config.run_dir
    sub = config.replace(results_dir=folder, logdir=Path(config.logdir) / config.name, classifier_dir=config.judge_dir,
                         run_name=pair_name(lr_d, lr_g), lr_d=lr_d, lr_g=lr_g, compare_lr=False)
    if config.resume:   # continue the pairs that have a checkpoint, start the others (over)
        started = (sub.run_dir / "checkpoints" / "checkpoint").exists()
        return sub.replace(resume=started, overwrite=not started)
    return sub


def run_lr_comparison(config: GanConfig, log=None) -> Comparison:
    """Train every (lr_d, lr_g) pair of `config` and write the figure and the table; raises UsageError, DiskFull."""
    config.validate()
    say = log or (tqdm.write if config.progress else print)
    check_outputs(config)
    data = load_data(config)
    pairs = [(lr_d, lr_g) for lr_d in config.lr_d_values for lr_g in config.lr_g_values]
    if len(set(pairs)) != len(pairs):
        raise UsageError("--lr-d-values / --lr-g-values: a learning rate is given twice; give each once")
    folder = config.run_dir
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(claim_run_folder(folder, resume=config.resume, overwrite=config.overwrite))
        except RunFolderError as exc:
            raise UsageError(str(exc)) from None
        results, judge_accuracy = [], None
        for i, (lr_d, lr_g) in enumerate(pairs, 1):
            sub = _pair_config(config, lr_d, lr_g)
            say(f"[{i}/{len(pairs)}] lr D {lr_d:g}, lr G {lr_g:g} -> {sub.run_dir}")
            result, judge_accuracy = _run_pair(sub, data, say, judge_accuracy)
            results.append(result)
        table = format_table(results, config.conditional)
        try:
            write_table(results, config.conditional, folder / TABLE_NAME)
            save_comparison_figure(results, config, judge_accuracy, folder / FIGURE_NAME)
        except OSError as exc:
            message = disk_full(exc, folder)
            if message is None:
                raise
            raise DiskFull(f"{message}; every pair is finished: `--resume` writes the figure and the table") from None
    say(table)
    say(f"Wrote {folder / FIGURE_NAME} and {folder / TABLE_NAME} ({len(results)} runs in {folder}); "
        f"tensorboard --logdir {Path(config.logdir) / config.name}")
    return Comparison(folder, results, judge_accuracy, table)


def _run_pair(sub: GanConfig, data: GanImages, say, judge_accuracy):
    prefix = f"  [D {sub.lr_d:g} G {sub.lr_g:g}] "
    try:
        result = run_gan(sub, log=lambda line: say(prefix + line), data=data)
    except NonFiniteLoss as exc:
        history = History(sub.run_dir, sub.conditional).load(10 ** 9)
        last = history.epochs[-1] if history.epochs else {}
        failed_at = int(last.get("epoch", 0)) + 1
        say(prefix + f"diverged: {exc}")
        seconds = float(sum(row["seconds"] for row in history.epochs))
        return PairResult(sub.lr_d, sub.lr_g, sub.run_dir, last, None, f"NaN losses in epoch {failed_at}",
                          seconds), judge_accuracy
    last = result.history.epochs[-1] if result.history.epochs else {}
    seconds = float(sum(row["seconds"] for row in result.history.epochs))
    return (PairResult(sub.lr_d, sub.lr_g, sub.run_dir, last, result.samples, "done", seconds),
            result.judge.test_accuracy)


def _fields(conditional: bool) -> tuple[str, ...]:
    numbers = tuple(k for k in NUMBER_FIELDS if conditional or k != "accuracy")
    return ("lr_d", "lr_g", "epochs", "status", *numbers, "seconds", "run")


def _value(pair: PairResult, key: str):
    if key in ("lr_d", "lr_g"):
        return f"{getattr(pair, key):g}"
    if key == "epochs":
        return int(pair.last.get("epoch", 0))
    if key == "status":
        return pair.status
    if key == "seconds":
        return f"{pair.seconds:.0f}"
    if key == "run":
        return pair.run_dir.name
    value = pair.last.get(key, math.nan)
    return f"{value:.4g}"


def write_table(pairs: list[PairResult], conditional: bool, dest: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = _fields(conditional)
    writer.writerow(fields)
    for pair in pairs:
        writer.writerow([_value(pair, k) for k in fields])
    return write_text_atomic(dest, out.getvalue())


def format_table(pairs: list[PairResult], conditional: bool) -> str:
    """The table as aligned text (the last finished epoch of each pair)."""
    heads = {"lr_d": "lr D", "lr_g": "lr G", "epochs": "epochs", "status": "status", "d_loss": "D loss",
             "g_loss": "G loss", "d_real": "D(x)", "d_fake": "D(G(z))", "entropy_bits": "entropy (bits)",
             "diversity": "diversity", "accuracy": "cond. acc.", "seconds": "seconds"}
    fields = [k for k in _fields(conditional) if k != "run"]

    def cell(pair, key):
        if key == "accuracy" and key in pair.last:
            return f"{100 * pair.last[key]:.1f}%"
        return str(_value(pair, key))

    rows = [[heads[k] for k in fields], *[[cell(p, k) for k in fields] for p in pairs]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(fields))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _caption(pair: PairResult, conditional: bool) -> str:
    last = pair.last
    if not last:
        return pair.status
    text = f"{last['entropy_bits']:.2f} bits, diversity {last['diversity']:.2f}"
    if conditional and "accuracy" in last:
        text = f"accuracy {100 * last['accuracy']:.0f}%, " + text
    text += f"\nD(x) {last['d_real']:.2f}, D(G(z)) {last['d_fake']:.2f}"
    if pair.samples is None:
        text = f"{pair.status} (last finished epoch {int(last['epoch'])}: {text})"
    return text


def save_comparison_figure(pairs: list[PairResult], config: GanConfig, judge_accuracy: float | None,
                           dest: Path) -> Path:
    """The final sample grids side by side: one row of panels per lr_d, one column per lr_g."""
    rows, cols = len(config.lr_d_values), len(config.lr_g_values)
    fig = Figure(figsize=(max(2.9 * cols + 0.4, 5.2), 3.45 * rows + 0.8))
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for pair in pairs:
        ax = axes[config.lr_d_values.index(pair.lr_d), config.lr_g_values.index(pair.lr_g)]
        if pair.samples is not None:
            ax.imshow(tile(pair.samples, 10), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.text(0.5, 0.5, pair.status, ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"lr D {pair.lr_d:g}, lr G {pair.lr_g:g}", fontsize=9)
        ax.set_xlabel(_caption(pair, config.conditional), fontsize=7.5)
    model = "DCGAN" if config.model == "dcgan" else "cDCGAN (row d: digit d asked for)"
    judge = f"; judge {100 * judge_accuracy:.1f}% on real test digits" if judge_accuracy is not None else ""
    epochs = max((int(p.last.get("epoch", 0)) for p in pairs), default=0)
    fig.suptitle(f"{model} on {config.dataset}, {epochs} epochs\nlearning rates of D (rows) and G (columns)"
                 f"{judge}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, dest)
