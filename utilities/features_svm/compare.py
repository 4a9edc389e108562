"""Compare runs: test accuracy per layer of several `sweep.csv` files in one figure and one table.

    python -m utilities.features_svm.compare out.png results/a results/b:random results/c/sweep.csv:pixels

Each source is a run's output folder (or its sweep.csv), optionally `:LABEL` (default: the
folder's name). A source with several layers is a line over the layers (in the order of the
first such source); a source with one layer (the raw-pixel baseline) is a horizontal dashed line.
`--C 1` takes each layer's row at that C; the default, `chosen`, the C cross-validation chose.
Rows with a reduction are left out (one point per layer). The table goes to stdout as Markdown.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from matplotlib.figure import Figure

from utilities.common.figures import save_figure


def _source(source: str) -> tuple[str, Path]:
    """(label, sweep.csv path) of `source` = PATH[:LABEL]."""
    path_text, label = (source, "") if Path(source).exists() else source.rpartition(":")[::2]
    path = Path(path_text or source)
    csv_path = path / "sweep.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise ValueError(f"{source}: no sweep.csv there")
    return label or (path.name if path.is_dir() else path.parent.name), csv_path


def _select(rows: list[dict], C: str = "chosen") -> dict[str, tuple[float, float]]:
    out = {}
    for row in rows:
        if row.get("reduction", "none") != "none":
            continue
        if (row["chosen"] == "1") if C == "chosen" else float(row["C"]) == float(C):
            out[row["layer"]] = (float(row["C"]), float(row["test_accuracy"]))
    return out


def compare(sources: list[str], dest: str | Path, *, C: str = "chosen", title: str = "") -> str:
    """Draw the figure at `dest`; return the Markdown table."""
    runs = []
    for source in sources:
        label, csv_path = _source(source)
        runs.append((label, _select(list(csv.DictReader(csv_path.read_text().splitlines())), C)))
    layers = next((list(r) for _, r in runs if len(r) > 1), None) or [layer for _, r in runs for layer in r]
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for i, (label, values) in enumerate(runs):
        colour = f"C{i % 10}"
        if len(values) > 1:
            xs = [layers.index(layer) for layer in values if layer in layers]
            ys = [values[layer][1] for layer in values if layer in layers]
            ax.plot(xs, ys, "o-", color=colour, label=label)
        elif values:
            (layer, (_, accuracy)), = values.items()
            ax.axhline(accuracy, color=colour, linestyle="--", label=f"{label} ({layer}): {100 * accuracy:.1f}%")
    ax.set_xticks(range(len(layers)), layers, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(f"test accuracy ({'C chosen by CV' if C == 'chosen' else f'C = {C}'})")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, dest)
    header = "| layer | " + " | ".join(label for label, _ in runs) + " |"
    lines = [header, "|---" * (len(runs) + 1) + "|"]
    for layer in dict.fromkeys([*layers, *(layer for _, r in runs for layer in r)]):
        cells = [f"{100 * r[layer][1]:.1f}% (C={r[layer][0]:g})" if layer in r else "" for _, r in runs]
        lines.append(f"| `{layer}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dest", type=Path, help="the figure (.png)")
    p.add_argument("sources", nargs="+", help="run folders or sweep.csv files, each optionally :LABEL")
    p.add_argument("--C", default="chosen", help="a C value, or chosen (default %(default)s)")
    p.add_argument("--title", default="", help="figure title")
    args = p.parse_args(argv)
    try:
        print(compare(args.sources, args.dest, C=args.C, title=args.title))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
