"""Ganin & Lempitsky's lambda_p and mu_p schedules, and the --lambda syntax."""
from __future__ import annotations

import math

import numpy as np
import pytest

from utilities.domain_adaptation.schedules import AnnealedLearningRate, parse_lambda


def test_lambda_schedule_rises_from_zero_to_one_as_in_the_paper():
    schedule = parse_lambda("schedule")
    values = [float(schedule(p)) for p in np.linspace(0, 1, 11)]
    assert values[0] == 0.0 and values == sorted(values)
    assert values[-1] == pytest.approx(2 / (1 + math.exp(-10)) - 1) and values[-1] > 0.9999
    assert float(schedule(0.1)) == pytest.approx(2 / (1 + math.exp(-1)) - 1)
    assert float(parse_lambda("schedule", gamma=5)(0.1)) == pytest.approx(2 / (1 + math.exp(-0.5)) - 1)


def test_fixed_lambda_and_bad_specs():
    assert float(parse_lambda("fixed:1")(0.0)) == 1.0 and parse_lambda("fixed:1").spec == "fixed:1"
    assert float(parse_lambda(" FIXED:0.5 ")(0.7)) == 0.5
    assert parse_lambda("schedule").spec == "schedule"
    for bad in ("fixed:", "fixed:one", "constant", "1"):
        with pytest.raises(ValueError, match="schedule' or 'fixed:VALUE"):
            parse_lambda(bad)
    for bad in ("fixed:nan", "fixed:inf", "fixed:-inf"):
        with pytest.raises(ValueError, match="finite"):
            parse_lambda(bad)


def test_learning_rate_annealing():
    lr = AnnealedLearningRate(0.01, total_steps=100, alpha=10, beta=0.75)
    assert float(lr(0)) == pytest.approx(0.01)
    assert float(lr(50)) == pytest.approx(0.01 / 6 ** 0.75)
    assert float(lr(100)) == pytest.approx(0.01 / 11 ** 0.75) == pytest.approx(float(lr(500)))  # p capped at 1
    assert float(AnnealedLearningRate(0.01, 100, alpha=0)(70)) == pytest.approx(0.01)
    assert AnnealedLearningRate.from_config(lr.get_config()).get_config() == lr.get_config()
