"""DANN adapts, not only runs: bundled digits -> the same digits blended with scikit-image photos.

Source-only and DANN (lambda schedule, annealed learning rate) with small conv widths (8, 16),
10 epochs, three seeds each; both are judged on the unlabelled target's test images. Every
number is printed (`pytest -s`); README "Domain adaptation" has the full-length (40-epoch)
comparison with the fixed-lambda and pseudo-labelling variants, where DANN's lead is larger
(about 7 points on every seed).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from utilities.domain_adaptation import Config, compare, load_domains

SEEDS = (0, 1, 2)
VARIANTS = (("source-only", "source-only", None), ("dann", "dann", "schedule"))


@pytest.mark.slow
def test_dann_beats_source_only_on_the_target_domain(tmp_path):
    domains = load_domains("digits", Path("unused"))
    config = Config(filters=(8, 16), epochs=10, out_dir=tmp_path, logdir=tmp_path / "logs", progress=False,
                    embedding="none")
    result = compare(config, list(SEEDS), variants=VARIANTS, domains=domains)
    print("\n" + result.table)
    scores = {name: runs for name, runs in result.results.items()}
    source_only = np.array([r.scores.target_accuracy for r in scores["source-only"]])
    dann = np.array([r.scores.target_accuracy for r in scores["dann"]])
    print("target accuracy per seed: source-only", source_only, "dann", dann)
    for runs in scores.values():  # both learn the source task
        assert min(r.scores.source_accuracy for r in runs) > 0.9
    assert source_only.max() < 0.6  # the domain gap is real: the source classifier fails on the target
    # measured here (seeds 0, 1, 2): source-only 0.409 0.396 0.418, DANN 0.473 0.422 0.467 (+4.7 points on
    # average, +2.7 on the closest seed; with 20 epochs +4.1 and +1.8). Float differences between machines
    # change the training trajectories, so the margins leave room for another draw of the same distribution.
    assert np.sum(dann > source_only) >= 2
    assert dann.mean() - source_only.mean() > 0.02
    # the reversed gradient makes the domains harder to tell apart
    domain_so = np.mean([r.scores.domain_accuracy for r in scores["source-only"]])
    domain_dann = np.mean([r.scores.domain_accuracy for r in scores["dann"]])
    assert domain_dann < domain_so - 0.03
