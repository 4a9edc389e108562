"""Class visualisation over a grid of settings (CS7643 A3 Q9 / 001 Q8-Q10): one command, one figure, one table.

    python -m utilities.explain.synthesis.sweep gorilla --model squeezenet \
        --iterations 25,50,100 --learning-rate 5,25 --l2-weight 0,1e-3,1e-2

Every option of the class visualisation takes a comma-separated list; the sweep runs every
combination for every class and writes, in its output folder:

- `sweep.png`: one cell per run, titled with the final image's top-1 class and probability (green
  when it is the wanted class, red when not); columns are the values of `--iterations` (or of the
  last option that varies), rows the other combinations, labelled with their settings;
- `sweep.csv`: one row per run: settings, p(class), top-1, logit, steps and norms (`ClassReport`);
- `run.json` (the settings) and `runs/<settings>.npz` (each finished combination, so `--resume`
  continues an interrupted sweep where it stopped).

Iterations cost nothing extra: one ascent as long as the longest keeps the image of every shorter
one (`ClassVisualiser.visualise(snapshots=...)`: the same seed draws the same jitter, and each
snapshot is taken before that step's blur, exactly where a shorter run ends). All classes of a
combination run in one batch. The folder is claimed like every run folder of the project: one that
already holds a sweep is refused unless `--resume` (same settings) or `--overwrite`.
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.explain import model_args
from utilities.explain.synthesis.class_visualisation import OPTION_NAMES, PRESETS, default_preset

RUN_FILE = "run.json"
RUNS_DIR = "runs"
FIGURE = "sweep.png"
TABLE = "sweep.csv"
MAX_CELLS = 100          # runs in one figure
SWEPT = ("iterations", "learning_rate", "l2_weight", "blur_every", "blur_sigma", "jitter")
LABELS = {"iterations": "iterations", "learning_rate": "lr", "l2_weight": "L2", "blur_every": "blur every",
          "blur_sigma": "blur sigma", "jitter": "jitter"}
FLAGS = {name: "--" + name.replace("_", "-") for name in SWEPT}
INTEGER = {"iterations", "blur_every", "jitter"}
POSITIVE = {"iterations", "learning_rate", "blur_sigma"}    # the others may be 0 (off)


class SweepError(ValueError):
    """The sweep cannot run as asked; str() is one line naming the flag."""


def parse_values(text: str, name: str) -> list:
    """"25,50,100" -> [25, 50, 100] (ints for iterations, blur_every, jitter; floats otherwise), checked."""
    flag = FLAGS[name]
    values = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            value = int(part) if name in INTEGER else float(part)
        except ValueError:
            kind = "whole numbers" if name in INTEGER else "numbers"
            raise SweepError(f"{flag} {text!r}: {part!r} is not a number; give {kind}, comma-separated") from None
        if not np.isfinite(value):
            raise SweepError(f"{flag} {text!r}: {part!r} is not finite")
        values.append(value)
    if not values:
        raise SweepError(f"{flag}: no value given")
    positive = name in POSITIVE
    bad = [v for v in values if (v <= 0 if positive else v < 0)]
    if bad:
        raise SweepError(f"{flag}: every value must be {'> 0' if positive else '>= 0'}, got {bad[0]:g}")
    return list(dict.fromkeys(values))


def _label(name: str, value) -> str:
    return f"{LABELS[name]} {value:g}"


@dataclass(frozen=True)
class SweepPlan:
    """What to run: the values of every option, the classes, and how the figure lays them out."""

    classes: tuple[int, ...]
    values: dict                     # option -> list of values (one value: not swept)

    @property
    def varying(self) -> list[str]:
        return [name for name in SWEPT if len(self.values[name]) > 1]

    @property
    def column_option(self) -> str | None:
        """Iterations across when they vary, else the last option that does."""
        varying = self.varying
        if "iterations" in varying:
            return "iterations"
        return varying[-1] if varying else None

    def groups(self) -> list[dict]:
        """One ascent per combination of the options other than iterations."""
        names = [n for n in SWEPT if n != "iterations"]
        return [dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(self.values[n] for n in names))]

    def cells(self) -> int:
        return len(self.classes) * int(np.prod([len(v) for v in self.values.values()]))


def group_key(group: dict) -> str:
    """A file-name-safe key of one combination: `lr25_l20.001_blur10x0.5_jitter16`."""
    return (f"lr{group['learning_rate']:g}_l2{group['l2_weight']:g}_blur{group['blur_every']:g}"
            f"x{group['blur_sigma']:g}_jitter{group['jitter']:g}").replace("+", "")


def plan_sweep(classes: Sequence[int], preset: str, lists: dict) -> SweepPlan:
    """The options' values: those given (`lists`: option -> text or None), else the preset's one value."""
    values = {}
    for name in SWEPT:
        text = lists.get(name)
        values[name] = parse_values(text, name) if text is not None else [PRESETS[preset][name]]
    plan = SweepPlan(tuple(classes), values)
    if plan.cells() > MAX_CELLS:
        raise SweepError(f"the sweep has {plan.cells()} runs ({len(classes)} class(es) x "
                         + " x ".join(str(len(v)) for v in values.values())
                         + f" settings); at most {MAX_CELLS} fit one figure: give fewer values")
    return plan


# ---------------------------------------------------------------------------------- running


def run_group(model, preprocess, plan: SweepPlan, group: dict, *, preset: str, shape, init, seed: int,
              names: Sequence[str], on_step=None) -> dict:
    """One combination: the ascent as long as the longest iterations value, every class in one batch.

    Returns {"images": (I, K, H, W, C) uint8 for the figure, "rows": [CSV rows]} with I the iterations values.
    """
    from utilities.explain.synthesis.class_visualisation import (
        ClassVisualiser,
        class_logits,
        class_reports,
        preset_options,
    )
    iterations = sorted(plan.values["iterations"])
    options = preset_options(preset, **group, iterations=max(iterations))
    visualiser = ClassVisualiser(model, preprocess, value_range=(0.0, 1.0), strip_every=max(iterations), **options)
    result = visualiser.visualise(plan.classes, shape, init=init, seed=seed, snapshots=iterations, on_step=on_step)
    images, rows = [], []
    for steps in iterations:
        finals = result.snapshots[steps]
        logits = class_logits(model, preprocess, finals)
        for report in class_reports(plan.classes, finals, result.strip[0], logits, steps, names, options["space"]):
            rows.append({**{name: (steps if name == "iterations" else group[name]) for name in SWEPT},
                         **report.row()})
        images.append(np.round(np.clip(finals, 0.0, 1.0) * 255).astype(np.uint8))
    return {"images": np.stack(images), "rows": rows}


def save_group(path: Path, done: dict) -> None:
    from utilities.common.atomic import atomic_path
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, images=done["images"], rows=np.array(json.dumps(done["rows"])))


def load_group(path: Path) -> dict:
    with np.load(path) as data:
        return {"images": data["images"], "rows": json.loads(str(data["rows"]))}


# ---------------------------------------------------------------------------------- outputs


def sweep_figure(plan: SweepPlan, done: dict[str, dict], names: Sequence[str], title: str):
    """The grid: rows = classes x combinations of the options that vary (columns' option aside)."""
    from matplotlib.figure import Figure

    from utilities.explain.plotting import wrap_text
    column = plan.column_option
    columns = plan.values[column] if column else [None]
    row_options = [n for n in plan.varying if n != column]
    combos = list(itertools.product(*(plan.values[n] for n in row_options)))
    rows = [(k, c, dict(zip(row_options, combo, strict=True)))
            for k, c in enumerate(plan.classes) for combo in combos]
    iterations = sorted(plan.values["iterations"])
    cell, label_w, head = 1.55, 1.5, 0.3
    gap = 0.42                                           # up to three 7 pt title lines above each image
    width = max(4.8, label_w + len(columns) * (cell + 0.1) + 0.1)
    fixed_text = ", ".join(_label(n, plan.values[n][0]) for n in SWEPT if n not in plan.varying)
    heading = wrap_text(f"{title}\n" + (f"fixed: {fixed_text}; " if fixed_text else "")
                        + "cell: top-1 of the final image (green: the class asked for)", width - 0.3, 9)
    title_h = 0.15 + 0.17 * (heading.count("\n") + 1)
    height = title_h + head + len(rows) * (cell + gap) + 0.1
    fig = Figure(figsize=(width, height))
    fig.suptitle(heading, fontsize=9, y=1 - 0.08 / height, va="top")
    for j, value in enumerate(columns):
        x = (label_w + j * (cell + 0.1) + 0.05 + cell / 2) / width
        fig.text(x, 1 - (title_h + 0.05) / height, _label(column, value) if column else "", ha="center",
                 va="top", fontsize=9, weight="bold")
    for i, (k, index, fixed) in enumerate(rows):
        top = title_h + head + i * (cell + gap) + gap
        row_text = "\n".join([f"{index} {names[index]}", *(_label(n, v) for n, v in fixed.items())])
        fig.text(0.08 / width, 1 - (top + cell / 2) / height, wrap_text(row_text, label_w - 0.15, 8),
                 ha="left", va="center", fontsize=8)
        for j, value in enumerate(columns):
            settings = {n: plan.values[n][0] for n in SWEPT} | fixed | ({column: value} if column else {})
            group = {n: settings[n] for n in SWEPT if n != "iterations"}
            entry = done[group_key(group)]
            step = iterations.index(settings["iterations"])
            row = entry["rows"][step * len(plan.classes) + k]
            ax = fig.add_axes(((label_w + j * (cell + 0.1) + 0.05) / width, 1 - (top + cell) / height,
                               cell / width, cell / height))
            ax.imshow(entry["images"][step, k])
            ax.set_axis_off()
            hit = int(row["top1"]) == index
            text = wrap_text(f"top-1 {row['top1']} {row['top1_name']}", cell, 7) + f"\np {float(row['p_top1']):.3f}"
            ax.set_title(text, fontsize=7, color="darkgreen" if hit else "firebrick", y=1.0)
    return fig


def write_table(path: Path, rows: list[dict]) -> Path:
    from utilities.common.atomic import write_text_atomic
    fields = list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def _file_digest(path: Path) -> str:
    """sha256 of a file (a .keras model: a sweep resumed with another model is refused)."""
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_resume(folder: Path, settings: dict) -> None:
    run_file = folder / RUN_FILE
    if not run_file.exists():
        raise SweepError(f"--resume: {folder} holds no sweep ({RUN_FILE} missing); run without --resume "
                         "(add --overwrite to start over)")
    saved = json.loads(run_file.read_text(encoding="utf-8"))
    changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        raise SweepError(f"--resume: the sweep in {folder} was run with other settings ({details}); use the same "
                         "flags, --overwrite to start it over, or another --output-dir")


# ---------------------------------------------------------------------------------- command line


def build_parser(model_names: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m utilities.explain.synthesis.sweep",
        description="Class visualisation over a grid of settings (the handout's Q9): every combination of the "
                    "comma-separated values, one figure (sweep.png) and one table (sweep.csv). Options not "
                    "given take the preset's value.")
    parser.add_argument("classes", nargs="+", help="classes by index or name (e.g. 366 or gorilla)")
    model_args.add_model_arguments(parser, model_names)   # --model, --weights, --preprocess, --class-names
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="default: handout for squeezenet, rgb for the others")
    parser.add_argument("--iterations", default=None, help="e.g. 25,50,100 (the preset's: 100 handout, 200 rgb)")
    parser.add_argument("--learning-rate", default=None, help="e.g. 5,25 (the preset's: 25 handout, 0.01 rgb)")
    parser.add_argument("--l2-weight", default=None, help="e.g. 0,1e-3,1e-2 (the preset's: 1e-3)")
    parser.add_argument("--blur-every", default=None, help="e.g. 0,10 (0 = no blur; the preset's: 10)")
    parser.add_argument("--blur-sigma", default=None, help="e.g. 0.5,1 (the preset's: 0.5)")
    parser.add_argument("--jitter", default=None, help="e.g. 0,16 (the preset's: 16 handout, 8 rgb)")
    parser.add_argument("--init", default=None, help="zeros, grey, noise or an image file (as class_visualisation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="results/class_visualisation_sweep")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted sweep (same settings)")
    parser.add_argument("--overwrite", action="store_true", help="start over a sweep in --output-dir")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep; 0 done, 2 with one line when the settings, classes, weights or folder are wrong."""
    import models
    args = build_parser(models.ALL_MODEL_NAMES).parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tqdm.auto import tqdm

    from utilities.common.figures import save_figure
    from utilities.common.output_paths import OutputPathError, check_output_dir, disk_full_message
    from utilities.common.run_folder import RunFolderError, claim_run_folder
    from utilities.explain.images import ImageReadError, unit_rgb_preprocess
    from utilities.explain.model_args import (
        is_model_file,
        known_input_size,
        open_network,
        print_notes,
        weights_label,
    )
    from utilities.explain.synthesis.class_visualisation import resolve_class_arguments, start_image

    preset = args.preset or default_preset(args.model)
    folder = Path(args.output_dir)
    try:
        if args.resume and args.overwrite:
            raise SweepError("--resume and --overwrite: choose one (continue the sweep, or start it over)")
        lists = {name: getattr(args, name) for name in OPTION_NAMES}
        plan_sweep([0], preset, lists)            # the values, checked before any model is built
        size = known_input_size(args)          # a network: --init read before it is built
        init = start_image(args.init, preset, size) if size else None
        loaded = open_network(args)
        spec, model, names = loaded.spec, loaded.model, loaded.class_names
        if size != spec.input_size:
            init = start_image(args.init, preset, spec.input_size)
        plan = plan_sweep(resolve_class_arguments(args.classes, names), preset, lists)
        check_output_dir(folder, "--output-dir")
        settings = {"model": args.model, "weights": weights_label(args), "preset": preset, "init": args.init,
                    "seed": args.seed, "classes": list(plan.classes),
                    "values": {n: list(v) for n, v in plan.values.items()}}
        if is_model_file(args.model):        # --resume with another file of the same name is refused
            settings["model_file"] = _file_digest(Path(args.model))
        if args.preprocess is not None:
            settings["preprocess"] = args.preprocess
        if args.class_names is not None:
            settings["class_names"] = list(names)
        with claim_run_folder(folder, resume=args.resume, overwrite=args.overwrite, flag="--output-dir"):
            if args.resume:
                _check_resume(folder, settings)
            else:
                for stale in (folder / RUNS_DIR).glob("*.npz") if (folder / RUNS_DIR).is_dir() else ():
                    stale.unlink()                  # --overwrite: the earlier sweep's runs
            print_notes(loaded, weights=args.weights, uses_layer=False)
            from utilities.common.atomic import write_text_atomic
            write_text_atomic(folder / RUN_FILE, json.dumps(settings, indent=2))
            (folder / RUNS_DIR).mkdir(exist_ok=True)
            shape = (spec.input_size, spec.input_size, 3)
            preprocess = unit_rgb_preprocess(spec.preprocess)
            done: dict[str, dict] = {}
            groups = plan.groups()
            todo = []
            for group in groups:
                path = folder / RUNS_DIR / f"{group_key(group)}.npz"
                if args.resume and path.exists():
                    done[group_key(group)] = load_group(path)
                else:
                    todo.append(group)
            if args.resume:
                print(f"--resume: {len(done)} of {len(groups)} setting(s) done already")
            steps = max(plan.values["iterations"])
            with tqdm(total=len(todo) * steps, desc="sweep", unit="step", disable=args.no_progress) as bar:
                for group in todo:
                    bar.set_postfix_str(group_key(group))
                    result = run_group(model, preprocess, plan, group, preset=preset, shape=shape, init=init,
                                       seed=args.seed, names=names, on_step=lambda _: bar.update(1))
                    save_group(folder / RUNS_DIR / f"{group_key(group)}.npz", result)
                    done[group_key(group)] = result
            rows = [row for group in groups for row in done[group_key(group)]["rows"]]
            write_table(folder / TABLE, rows)
            title = (f"class visualisation: {args.model}, {weights_label(args)} weights, {preset} preset, "
                     f"seed {args.seed}")
            save_figure(sweep_figure(plan, done, names, title), folder / FIGURE)
    except (SweepError, RunFolderError, OutputPathError, ImageReadError, models.WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {disk_full_message(exc, folder) or f'cannot write in {folder}: {exc.strerror or exc}'}",
              file=sys.stderr)
        return 2
    for row in rows:
        settings_text = ", ".join(_label(n, row[n]) for n in SWEPT)
        mark = "" if int(row["top1"]) == int(row["class"]) else "  (NOT top-1)"
        print(f"{settings_text}: class {row['class']} {row['class_name']} p={float(row['p_class']):.4f}, top-1 "
              f"{row['top1']} {row['top1_name']} (p {float(row['p_top1']):.4f}){mark}; {row['steps']} steps, "
              f"penalised L2 {float(row['penalised_l2']):.1f}, change L2 {float(row['change_l2']):.2f} "
              f"L-inf {float(row['change_linf']):.3f}")
    print(folder / FIGURE)
    print(folder / TABLE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
