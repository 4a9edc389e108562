"""The handout's comparison: source-only, DANN (schedule), DANN (fixed lambda = 1) and pseudo-labelling.

Each variant runs for each seed (its own run directory, so `--resume` continues an interrupted
comparison run by run), then:
    results/domain_adaptation/comparison.csv         variant, seed, source/target/domain accuracy
    results/domain_adaptation/comparison.md          mean +- std over the seeds, per variant
    results/domain_adaptation/features_comparison.png  source-only vs DANN features (first seed):
                                                     before and after adaptation
"""
from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utilities.common.atomic import write_text_atomic
from utilities.domain_adaptation.domains import DomainPair, load_domains
from utilities.domain_adaptation.experiment import Config, RunResult, run_experiment
from utilities.domain_adaptation.feature_plot import plot_features

VARIANTS = (  # name, mode, --lambda
    ("source-only", "source-only", None),
    ("dann", "dann", "schedule"),
    ("dann, fixed lambda=1", "dann", "fixed:1"),
    ("pseudo-label", "pseudo-label", None),
)


@dataclass
class Comparison:
    """Every run's result per variant name, the Markdown table and the files written."""

    results: dict[str, list[RunResult]]
    table: str
    files: dict[str, Path] = field(default_factory=dict)


def summary_table(results: dict[str, list[RunResult]], target_name: str) -> str:
    """Markdown: one row per variant, mean +- std over seeds of each test accuracy."""
    lines = [f"| variant (target: {target_name}) | seeds | source accuracy | target accuracy | domain accuracy |",
             "|---|---|---|---|---|"]
    for name, runs in results.items():
        cells = []
        for key in ("source_accuracy", "target_accuracy", "domain_accuracy"):
            values = np.array([getattr(r.scores, key) for r in runs])
            cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(base: Config, seeds: list[int], variants=VARIANTS, domains: DomainPair | None = None) -> Comparison:
    """Run `variants` x `seeds` with the other settings of `base`; write the table, CSV and figure."""
    base = dataclasses.replace(base, run_name=None)
    if domains is None:
        from utilities.digits.keras_files import datasets_dir
        domains = load_domains(base.dataset, Path(base.data_dir or datasets_dir()), progress=base.progress,
                               bsds_url=base.bsds_url)
    results: dict[str, list[RunResult]] = {}
    for name, mode, lambda_spec in variants:
        for seed in seeds:
            config = dataclasses.replace(base, mode=mode, lambda_spec=lambda_spec, seed=seed)
            if base.progress:
                print(f"{name}, seed {seed}", flush=True)
            results.setdefault(name, []).append(run_experiment(config, domains))

    out = Path(base.out_dir)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "mode", "lambda", "seed", "source_accuracy", "target_accuracy", "domain_accuracy"])
    for name, runs in results.items():
        for r in runs:
            s = r.scores
            writer.writerow([name, r.config.mode, r.config.lambda_spec, r.config.seed, f"{s.source_accuracy:.4f}",
                             f"{s.target_accuracy:.4f}", f"{s.domain_accuracy:.4f}"])
    table = summary_table(results, domains.target_name)
    files = {"csv": write_text_atomic(out / "comparison.csv", buffer.getvalue()),
             "table": write_text_atomic(out / "comparison.md", table)}
    before_after = [results[name][0].features for name in ("source-only", "dann") if name in results]
    if base.embedding != "none" and before_after:
        before_after = [dataclasses.replace(s, title=t) for s, t in
                        zip(before_after, ("before adaptation (source-only)", "after adaptation (DANN)"), strict=False)]
        files["features"] = plot_features(before_after, out / "features_comparison.png", base.embedding, seeds[0])
    return Comparison(results, table, files)
