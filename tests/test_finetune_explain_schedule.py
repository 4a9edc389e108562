"""`--explain-every auto` keeps its 5 % promise on short runs too (issue 27): pure schedule logic with
injected durations (no timing is measured or asserted), and the observer's deferred call before
training with stand-ins for the explanation logger.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from utilities.finetune import explain_logging
from utilities.finetune.explain_logging import ExplainingObserver
from utilities.finetune.explain_schedule import (
    AUTO,
    AUTO_BUDGET,
    BEFORE_AT_START,
    BEFORE_COMPUTED,
    BEFORE_PENDING,
    BEFORE_SKIPPED,
    BEFORE_WRITTEN,
    CURVES_PER_MAPS,
    FIRST_CALL_FORWARDS,
    ExplainSchedule,
)


def simulate(schedule: ExplainSchedule, epoch_seconds, call_seconds, *, resumed: bool = False) -> ExplainSchedule:
    """Drive `schedule` as ExplainingObserver does: after each epoch's validation, a due call is computed
    (its cost `call_seconds(n)` for the n-th call), the deferred call before training decided with that
    cost, then both recorded. `epoch_seconds`: one duration per epoch."""
    calls = 0
    for epoch, seconds in enumerate(epoch_seconds, start=1):
        schedule.record_training(seconds)
        if schedule.due(epoch):
            cost = call_seconds(calls)
            calls += 1
            if schedule.before_due(epoch, cost):
                schedule.record_before(call_seconds(calls), written=not resumed)
                calls += 1
            schedule.record_call(cost)
            schedule.explained_epochs.append(epoch)
    return schedule


def test_short_run_skips_the_call_before_training():
    """Issue 27's run: 30 epochs of 0.63 s (19 s of training), calls of 1.85 s. The old schedule made two
    calls (3.7 s, 19.4 %); now the call before training is skipped, and the report says why and that the
    last epoch's call alone exceeds the budget."""
    schedule = simulate(ExplainSchedule(AUTO, last_epoch=30), [0.63] * 30, lambda n: 1.85)
    assert schedule.explained_epochs == [30] and schedule.before == BEFORE_SKIPPED
    assert schedule.explaining_seconds == pytest.approx(1.85)
    text = schedule.describe()
    assert "the maps before training were skipped (a call costs ~1.9 s and 5% of the 18.9 s" in text
    assert "the last epoch's call is always made and alone exceeded the budget" in text
    assert "here 9.8%" in text


def test_long_run_with_a_prior_explains_before_training_and_stays_within_the_budget():
    """Epochs of 10 s, a forward of 10 ms per image: the prior for a first call is 80 x 8 x 10 ms = 6.4 s,
    so the first call waits until 26 epochs have earned 2 x 6.4 s; calls then cost 2 s."""
    schedule = ExplainSchedule(AUTO, last_epoch=40)
    schedule.estimate_first_call(0.01, 8)
    assert schedule.estimate_seconds == pytest.approx(FIRST_CALL_FORWARDS * 8 * 0.01)
    simulate(schedule, [10.0] * 40, lambda n: 2.0)
    assert schedule.explained_epochs[0] == 26 and schedule.explained_epochs[-1] == 40
    assert schedule.before == BEFORE_WRITTEN and schedule.before_seconds == 2.0
    assert schedule.explaining_seconds <= AUTO_BUDGET * schedule.training_seconds
    assert "before training (made at the first call with the starting weights), after epochs 26," in \
        schedule.describe()


def test_cheap_calls_explain_every_epoch_once_a_call_was_timed():
    """A GPU-like run: forward 1 ms per image (prior 0.64 s), calls of 50 ms, epochs of 10 s."""
    schedule = ExplainSchedule(AUTO, last_epoch=30)
    schedule.estimate_first_call(0.001, 8)
    simulate(schedule, [10.0] * 30, lambda n: 0.05)
    assert schedule.explained_epochs == list(range(3, 31)) and schedule.before == BEFORE_WRITTEN
    assert schedule.share() <= AUTO_BUDGET


def test_without_an_estimate_only_the_last_epoch_is_explained():
    schedule = ExplainSchedule(AUTO, last_epoch=5)
    assert [e for e in range(1, 5) if schedule.due(e)] == [] and schedule.due(5)
    simulate(schedule, [100.0] * 5, lambda n: 1.0)      # 5 % of 500 s: room for the call before training
    assert schedule.explained_epochs == [5] and schedule.before == BEFORE_WRITTEN


@pytest.mark.parametrize("seed", range(20))
def test_promise_holds_whenever_the_last_call_fits(seed):
    """Random runs with a constant call cost and its exact prior: the whole run stays within the budget
    whenever the last epoch's call alone fits in it (the one call auto cannot skip)."""
    rng = np.random.default_rng(seed)
    epochs = int(rng.integers(1, 40))
    epoch_seconds = rng.uniform(0.1, 20.0, epochs)
    cost = float(rng.uniform(0.01, 10.0))
    schedule = ExplainSchedule(AUTO, last_epoch=epochs, estimate_seconds=cost)
    simulate(schedule, epoch_seconds, lambda n: cost)
    if cost <= AUTO_BUDGET * epoch_seconds.sum():
        assert schedule.explaining_seconds <= AUTO_BUDGET * schedule.training_seconds + 1e-9
    else:
        assert schedule.explained_epochs == [epochs] and schedule.before == BEFORE_SKIPPED


def test_resumed_run_computes_the_resumed_from_maps_only_when_they_fit():
    fits = simulate(ExplainSchedule(AUTO, last_epoch=3), [100.0] * 3, lambda n: 1.0, resumed=True)
    assert fits.before == BEFORE_COMPUTED and "the resumed-from weights (for gradcam_mass_moved)" in fits.describe()
    short = simulate(ExplainSchedule(AUTO, last_epoch=3), [1.0] * 3, lambda n: 1.0, resumed=True)
    assert short.before == BEFORE_SKIPPED


def test_every_n_is_not_deferred_and_decides_once():
    schedule = ExplainSchedule(2, last_epoch=5)
    assert schedule.before == BEFORE_AT_START and not schedule.deferred
    assert not schedule.before_due(2, 0.0)                  # made at the start, nothing to decide
    assert [e for e in range(1, 6) if schedule.due(e)] == [2, 4, 5]
    auto = ExplainSchedule(AUTO, last_epoch=5)
    assert auto.deferred and auto.before == BEFORE_PENDING
    auto.record_training(1.0)
    assert not auto.before_due(1, 10.0) and auto.before == BEFORE_SKIPPED and not auto.before_due(5, 0.0)


# ---------------------------------------------------------------- the observer, with stand-ins


class FakePending:
    def __init__(self, value: float, seconds: float, curves: bool = True):
        self.value, self.seconds, self.curves = value, seconds, (True if curves else None)


class FakeExplanations:
    """What ExplainingObserver uses of ExplanationLogger; each call sees the variable's value."""

    def __init__(self, variable: tf.Variable, seconds: float = 1.0):
        self.variable, self.call_seconds = variable, seconds
        self.images = [0] * 8
        self.seconds: list[float] = []
        self.written: list[tuple[int, float]] = []
        self.with_curves: list[bool] = []
        self.remembered: list[float] = []
        self.restarts: list[int] = []

    def mark_restart(self, step):
        self.restarts.append(step)

    def start(self, step, *, write=True):
        self.mark_restart(step)
        self.write(self.compute(), step) if write else self.remember(self.compute())

    def log(self, step, curves=True):
        self.write(self.compute(curves), step)

    def compute(self, curves=True):
        """A call whose maps take a quarter of `call_seconds`, the curves the rest (when they are made)."""
        maps = self.call_seconds / 4
        made = curves(maps) if callable(curves) else curves
        return FakePending(float(self.variable.numpy()), self.call_seconds if made else maps, made)

    def write(self, pending, step):
        self.written.append((step, pending.value))
        self.with_curves.append(pending.curves is not None)
        self.seconds.append(pending.seconds)

    def remember(self, pending):
        self.remembered.append(pending.value)
        self.seconds.append(pending.seconds)


class Inner:
    def validation_epoch(self, step, **kwargs):
        pass

    def speed(self, step, images_per_second):
        pass


class Clock:
    """time.perf_counter for explain_logging: advances only when told."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(explain_logging, "time", fake)
    return fake


def run_observer(clock, *, epochs: int, epoch_seconds: float, call_seconds: float, write_start: bool = True,
                 every=AUTO):
    variable = tf.Variable(0.0)
    explanations = FakeExplanations(variable, call_seconds)
    schedule = ExplainSchedule(every, last_epoch=epochs)
    observer = ExplainingObserver(Inner(), explanations, schedule, variables=[variable],
                                  forward_seconds_per_image=call_seconds / (FIRST_CALL_FORWARDS * 8))
    observer.start(10, write=write_start)
    for epoch in range(1, epochs + 1):
        variable.assign(float(epoch))            # "training" changes the trained variable
        clock.now += epoch_seconds
        observer.validation_epoch(10 + 3 * epoch, epoch=epoch, loss=0.0, accuracy=0.0, confusion=None)
    return variable, explanations, schedule


def test_observer_writes_the_starting_weights_maps_at_the_start_step_first(clock):
    variable, explanations, schedule = run_observer(clock, epochs=3, epoch_seconds=100.0, call_seconds=1.0)
    # first call after epoch 1 (prior 1 s x 2 <= 5 % of 100 s): the starting value 0.0 explained at step 10,
    # written before epoch 1's maps; the trained value put back
    assert explanations.written[:2] == [(10, 0.0), (13, 1.0)] and explanations.restarts == [10]
    assert [w[0] for w in explanations.written] == [10, 13, 16, 19]
    assert float(variable.numpy()) == 3.0 and schedule.before == BEFORE_WRITTEN
    assert schedule.explaining_seconds == pytest.approx(4.0)


def test_observer_skips_the_starting_weights_maps_on_a_short_run(clock):
    variable, explanations, schedule = run_observer(clock, epochs=3, epoch_seconds=1.0, call_seconds=1.0)
    assert explanations.written == [(19, 3.0)] and schedule.before == BEFORE_SKIPPED
    assert "the maps before training were skipped" in schedule.describe()


def test_observer_resumed_remembers_instead_of_writing(clock):
    _, explanations, schedule = run_observer(clock, epochs=2, epoch_seconds=100.0, call_seconds=1.0,
                                             write_start=False)
    assert explanations.remembered == [0.0] and [w[0] for w in explanations.written] == [13, 16]
    assert schedule.before == BEFORE_COMPUTED


def test_observer_every_n_explains_at_the_start_as_before(clock):
    _, explanations, schedule = run_observer(clock, epochs=2, epoch_seconds=1.0, call_seconds=1.0, every=1)
    assert explanations.written == [(10, 0.0), (13, 1.0), (16, 2.0)] and schedule.before == BEFORE_AT_START


def test_observer_estimates_a_first_call_from_the_first_epochs_speed_without_a_cache(clock):
    variable = tf.Variable(0.0)
    schedule = ExplainSchedule(AUTO, last_epoch=5)
    observer = ExplainingObserver(Inner(), FakeExplanations(variable), schedule, variables=[variable])
    assert schedule.estimate_seconds is None
    observer.speed(3, 100.0)                      # 100 images/s: at most 10 ms per forward
    observer.speed(6, 1.0)                        # later epochs do not change the prior
    assert schedule.estimate_seconds == pytest.approx(FIRST_CALL_FORWARDS * 8 / 100.0)


def test_auto_made_at_the_start_is_described(clock):
    """Several workers: nothing to put back later, so auto explains before training at once (and says so)."""
    variable = tf.Variable(0.0)
    explanations = FakeExplanations(variable)
    schedule = ExplainSchedule(AUTO, last_epoch=1)
    observer = ExplainingObserver(Inner(), explanations, schedule, variables=())
    observer.start(0)
    clock.now += 1.0
    observer.validation_epoch(3, epoch=1, loss=0.0, accuracy=0.0, confusion=None)
    assert explanations.written == [(0, 0.0), (3, 0.0)] and schedule.before == BEFORE_AT_START
    assert "here 125.0%): before training, after epochs 1; without the deletion/insertion curves" in schedule.describe()


# ---------------------------------------------------------------- the deletion/insertion curves


def test_the_last_calls_curves_are_left_out_when_they_do_not_fit():
    """The issue's short run: 5 % of 40 s is 2 s; maps of 1 s would make a call of 1 x (1 + CURVES_PER_MAPS) s."""
    schedule = ExplainSchedule(AUTO, last_epoch=30)
    schedule.record_training(40.0)
    assert not schedule.curves_fit(30, 1.0) and schedule.curves_left_out == [30]
    schedule.record_call(1.0)
    schedule.explained_epochs.append(30)
    assert schedule.explaining_seconds <= AUTO_BUDGET * schedule.training_seconds
    assert "without the deletion/insertion curves after epoch(s) 30 (they did not fit)" in schedule.describe()
    assert "alone exceeded the budget" not in schedule.describe()
    roomy = ExplainSchedule(AUTO, last_epoch=30)
    roomy.record_training(1.0 * (1 + CURVES_PER_MAPS) / AUTO_BUDGET)
    assert roomy.curves_fit(30, 1.0) and roomy.curves_left_out == []
    assert "curves" not in roomy.describe()


def test_an_intermediate_calls_curves_keep_the_reserve_for_the_last_epoch():
    schedule = ExplainSchedule(AUTO, last_epoch=30)
    schedule.record_training(100.0)                       # 5 s of budget
    schedule.record_call(1.0)                             # the reserve: a call costs ~1 s
    assert schedule.curves_fit(10, 0.5)                   # 1 + 0.5 x 4 + 1 <= 5
    assert not schedule.curves_fit(11, 0.8)               # 1 + 0.8 x 4 + 1 > 5
    assert not schedule.curves_fit(30, 1.1)               # the last call: no reserve, 1 + 4.4 > 5
    assert schedule.curves_left_out == [11, 30]


def test_every_n_always_makes_the_curves():
    schedule = ExplainSchedule(1, last_epoch=3)
    assert schedule.curves_fit(3, 1000.0) and schedule.curves_left_out == []


def test_observer_writes_a_short_runs_last_call_without_curves(clock):
    _, explanations, schedule = run_observer(clock, epochs=3, epoch_seconds=10.0, call_seconds=4.0)
    # 30 s of training: 1.5 s of budget; the last call's maps (1 s) fit, its curves (3 s more) do not
    assert explanations.written == [(19, 3.0)] and explanations.with_curves == [False]
    assert schedule.explaining_seconds == pytest.approx(1.0) and schedule.curves_left_out == [3]
    long = run_observer(clock, epochs=3, epoch_seconds=1000.0, call_seconds=4.0)[1]
    assert all(long.with_curves) and len(long.written) == 4
