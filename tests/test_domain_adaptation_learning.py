"""DANN adapts, not only runs: digits -> the same digits blended with scikit-image photos.

Source-only and DANN (lambda schedule, annealed learning rate) with small conv widths (8, 16),
judged on the unlabelled target's test images: on the bundled digits (10 epochs, three seeds)
and on real MNIST handwriting (mnist5k, 8 epochs, two seeds; skipped only where the digits
cannot be had). Every number is printed (`pytest -s`); docs/domain_adaptation.md has the
full-length comparisons with the fixed-lambda and pseudo-labelling variants.
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
    # measured here (seeds 0, 1, 2): source-only 0.409 0.391 0.418, DANN 0.473 0.418 0.467 (+4.7 points on
    # average, +2.7 on the closest seed; with 20 epochs +4.1 and +1.8). Float differences between machines
    # change the training trajectories, so the margins leave room for another draw of the same distribution.
    assert np.sum(dann > source_only) >= 2
    assert dann.mean() - source_only.mean() > 0.02
    # the reversed gradient makes the domains harder to tell apart
    domain_so = np.mean([r.scores.domain_accuracy for r in scores["source-only"]])
    domain_dann = np.mean([r.scores.domain_accuracy for r in scores["dann"]])
    assert domain_dann < domain_so - 0.03


@pytest.mark.slow
def test_dann_beats_source_only_on_real_mnist_digits(tmp_path):
    from tests.real_datasets import real_mnist5k

    real_mnist5k()  # skips, saying why, where the 5,000 real digits cannot be had
    domains = load_domains("mnist5k", Path("unused"))
    config = Config(dataset="mnist5k", filters=(8, 16), epochs=8, out_dir=tmp_path, logdir=tmp_path / "logs",
                    progress=False, embedding="none")
    result = compare(config, [0, 1], variants=VARIANTS, domains=domains)
    print("\n" + result.table)
    source_only = np.array([r.scores.target_accuracy for r in result.results["source-only"]])
    dann = np.array([r.scores.target_accuracy for r in result.results["dann"]])
    print("target accuracy per seed: source-only", source_only, "dann", dann)
    for runs in result.results.values():
        assert min(r.scores.source_accuracy for r in runs) > 0.9
    assert source_only.max() < 0.6
    # measured here (seeds 0, 1; seed 2 for the spread): source-only 0.456 0.444 (0.447), DANN 0.522 0.513
    # (0.556): +6.6, +6.9 (+10.9) points; domain accuracy 0.887 0.901 -> 0.796 0.774. About 35 s on 2 cores.
    assert np.all(dann - source_only > 0.02)
    assert dann.mean() - source_only.mean() > 0.03
    domain_so = np.mean([r.scores.domain_accuracy for r in result.results["source-only"]])
    domain_dann = np.mean([r.scores.domain_accuracy for r in result.results["dann"]])
    assert domain_dann < domain_so - 0.04
