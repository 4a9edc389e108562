"""The handout's comparison: source-only, DANN (schedule), DANN (fixed lambda = 1) and pseudo-labelling.

Each variant runs for each seed (its own run directory, so `--resume` continues an interrupted
comparison run by run), then:
    results/domain_adaptation/comparison.csv         variant, seed, source/target/domain accuracy
    results/domain_adaptation/comparison.md          mean +- sample std over the seeds, per variant
    results/domain_adaptation/comparison_curves.png  test accuracies per epoch, mean and range over seeds
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
from utilities.common.run_folder import RunFolderError, holds_a_run
from utilities.domain_adaptation.curves import plot_curves
from utilities.domain_adaptation.domains import DomainPair, load_domains
from utilities.domain_adaptation.experiment import Config, RunResult, check_outputs, run_experiment
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


def mean_and_spread(values: np.ndarray) -> str:
    """`0.501 ± 0.011` (mean ± sample standard deviation over the seeds), or `0.501 (n=1)` for one seed."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return f"{values.mean():.3f} (n={len(values)})"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def summary_table(results: dict[str, list[RunResult]], target_name: str) -> str:
    """Markdown: one row per variant, mean ± sample std over seeds of each test accuracy (n=1: no spread)."""
    lines = [f"| variant (target: {target_name}) | seeds | source accuracy | target accuracy | domain accuracy |",
             "|---|---|---|---|---|"]
    for name, runs in results.items():
        cells = [mean_and_spread([getattr(r.scores, key) for r in runs])
                 for key in ("source_accuracy", "target_accuracy", "domain_accuracy")]
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(base: Config, seeds: list[int], variants=VARIANTS, domains: DomainPair | None = None) -> Comparison:
    """Run `variants` x `seeds` with the other settings of `base`; write the table, CSV and figure.

    Every folder is checked before any work: the output folders (`check_outputs`) and each run's
    folder (one that already holds a run needs --resume or --overwrite). With --resume, runs that
    finished are re-read, an interrupted one continues, and those not started yet start.
    """
    base = dataclasses.replace(base, run_name=None)
    configs = [(name, dataclasses.replace(base, mode=mode, lambda_spec=lambda_spec, seed=seed).resolved())
               for name, mode, lambda_spec in variants for seed in seeds]
    check_outputs(configs[0][1])
    taken = [str(Path(c.out_dir) / c.run_name) for _, c in configs if holds_a_run(Path(c.out_dir) / c.run_name)]
    if taken and not (base.resume or base.overwrite):
        raise RunFolderError(f"{len(taken)} of the {len(configs)} runs already exist ({taken[0]}"
                             + (f" and {len(taken) - 1} more" if len(taken) > 1 else "")
                             + "): add --resume to continue the comparison, --overwrite to start it over, "
                             "or choose another --out")
    if domains is None:
        from utilities.digits.keras_files import datasets_dir
        domains = load_domains(base.dataset, Path(base.data_dir or datasets_dir()), progress=base.progress,
                               bsds_url=base.bsds_url)
    results: dict[str, list[RunResult]] = {}
    for name, config in configs:
        run_dir = Path(config.out_dir) / config.run_name
        resume = base.resume and (run_dir / "checkpoints" / "checkpoint").exists()
        overwrite = base.overwrite or (base.resume and not resume)  # --resume: a run with no epoch starts afresh
        print(f"{name}, seed {config.seed} ({config.run_name})", flush=True)
        results.setdefault(name, []).append(
            run_experiment(dataclasses.replace(config, resume=resume, overwrite=overwrite), domains))

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
    files["curves"] = plot_curves(results, out / "comparison_curves.png",
                                  f"{domains.source_name} -> {domains.target_name}")
    before_after = [results[name][0].features for name in ("source-only", "dann") if name in results]
    if base.embedding != "none" and before_after:
        before_after = [dataclasses.replace(s, title=t) for s, t in
                        zip(before_after, ("before adaptation (source-only)", "after adaptation (DANN)"), strict=False)]
        files["features"] = plot_features(before_after, out / "features_comparison.png", base.embedding, seeds[0])
    return Comparison(results, table, files)
