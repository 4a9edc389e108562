"""Compare groups of assignment_3a.py runs from their TensorBoard event files: a table and a figure.

    python -m utilities.finetune.compare_runs logs --group pretrained='fm_pretrained_s*' \\
        --group random='fm_random_s*' --out docs/img/assignment_3a/fashion_validation.png

Each `--group NAME=PATTERN` collects the runs under LOGDIR whose folder name matches the glob
PATTERN. For every run the validation curves (`validation/accuracy`, `validation/cross_entropy`,
one point per epoch, in step order) are read from the event files TensorBoard reads. The table
gives per group the runs, the final and best validation accuracy (mean, and each run's), and the
final validation loss; the figure draws each group's validation accuracy per epoch (each run
thin, the mean thick). Errors are one line (exit status 2).
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python utilities/finetune/compare_runs.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

EXIT_ERROR = 2
VALIDATION = "validation"
ACCURACY, LOSS = "accuracy", "cross_entropy"


class CompareError(RuntimeError):
    """Runs or curves that cannot be read; str() is one line."""


@dataclass(frozen=True)
class RunCurves:
    name: str
    steps: np.ndarray
    accuracy: np.ndarray
    loss: np.ndarray

    @property
    def epochs(self) -> np.ndarray:
        return np.arange(1, len(self.accuracy) + 1)


def read_scalar(folder: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one scalar written by tf.summary.scalar, in step order (the last value of a step
    wins, as TensorBoard shows a resumed run)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    if tag not in accumulator.Tags().get("tensors", []):
        raise CompareError(f"{folder}: no {tag!r} curve (not an assignment_3a.py run, or no epoch finished)")
    by_step = {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)}
    steps = np.array(sorted(by_step))
    return steps, np.array([by_step[s] for s in steps])


def read_run(run_dir: Path) -> RunCurves:
    folder = run_dir / VALIDATION
    if not folder.is_dir():
        raise CompareError(f"{run_dir}: no {VALIDATION}/ folder of event files")
    steps, accuracy = read_scalar(folder, ACCURACY)
    loss_steps, loss = read_scalar(folder, LOSS)
    if not np.array_equal(steps, loss_steps):
        raise CompareError(f"{folder}: accuracy and loss were logged at different steps")
    return RunCurves(run_dir.name, steps, accuracy, loss)


def find_groups(logdir: Path, groups: Sequence[tuple[str, str]]) -> dict[str, list[RunCurves]]:
    if not logdir.is_dir():
        raise CompareError(f"LOGDIR {logdir}: no such folder")
    names = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    found = {}
    for label, pattern in groups:
        runs = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not runs:
            raise CompareError(f"--group {label}={pattern}: no run folder under {logdir} matches")
        found[label] = [read_run(logdir / n) for n in runs]
    return found


def table(groups: dict[str, list[RunCurves]]) -> str:
    lines = ["| group | runs | epochs | final val. accuracy (mean) | each run | best val. accuracy (mean) "
             "| final val. loss (mean) |", "|---|---|---|---|---|---|---|"]
    for label, runs in groups.items():
        final = np.array([r.accuracy[-1] for r in runs])
        best = np.array([r.accuracy.max() for r in runs])
        loss = np.array([r.loss[-1] for r in runs])
        epochs = sorted({len(r.accuracy) for r in runs})
        lines.append(f"| {label} | {len(runs)} | {'/'.join(map(str, epochs))} | {final.mean():.3f} | "
                     f"{', '.join(f'{a:.3f}' for a in final)} | {best.mean():.3f} | {loss.mean():.3f} |")
    return "\n".join(lines)


def figure(groups: dict[str, list[RunCurves]], out: Path, title: str = "") -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utilities.common.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (label, runs), colour in zip(groups.items(), colours, strict=False):
        for metric, ax in zip(("accuracy", "loss"), axes, strict=True):
            for run in runs:
                ax.plot(run.epochs, getattr(run, metric), color=colour, alpha=0.35, linewidth=0.8)
            longest = min(len(r.accuracy) for r in runs)
            mean = np.mean([getattr(r, metric)[:longest] for r in runs], axis=0)
            ax.plot(np.arange(1, longest + 1), mean, color=colour, linewidth=2,
                    label=f"{label} ({len(runs)} run{'s' * (len(runs) > 1)})")
    axes[0].set_ylabel("validation accuracy")
    axes[1].set_ylabel("validation cross-entropy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return out


def _group(text: str) -> tuple[str, str]:
    label, sep, pattern = text.partition("=")
    if not sep or not label or not pattern:
        raise argparse.ArgumentTypeError(f"expected NAME=PATTERN, got {text!r}")
    return label, pattern


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m utilities.finetune.compare_runs",
                                description="Table and figure of groups of assignment_3a.py runs.")
    p.add_argument("logdir", type=Path, help="the --logdir of the runs")
    p.add_argument("--group", type=_group, action="append", required=True,
                   help="NAME=PATTERN: the runs whose folder name matches the glob PATTERN (repeat)")
    p.add_argument("--out", type=Path, help="write the figure (PNG) there")
    p.add_argument("--title", default="", help="the figure's title")
    args = p.parse_args(argv)
    try:
        if args.out is not None:
            from utilities.common.output_paths import OutputPathError, check_output_file
            try:
                check_output_file(args.out, "--out")
            except OutputPathError as exc:
                raise CompareError(str(exc)) from None
        groups = find_groups(args.logdir, args.group)
        print(table(groups))
        if args.out is not None:
            print(f"figure: {figure(groups, args.out, args.title)}")
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
