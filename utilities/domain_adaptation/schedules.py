"""The two schedules of Ganin & Lempitsky (2015, section 5.2.2), driven by training progress p in [0, 1].

    GRL factor      lambda_p = 2 / (1 + exp(-gamma p)) - 1      gamma = 10: 0 at the start, -> 1
    learning rate   mu_p = mu_0 / (1 + alpha p) ** beta         mu_0 = 0.01, alpha = 10, beta = 0.75

The lambda schedule keeps the noisy domain signal out of the early steps. `--lambda fixed:VALUE`
keeps it constant instead: `fixed:1` multiplies the domain gradient by -1 from the first step
(the handout's "fixed -1"), `fixed:0` blocks it (the domain classifier then only watches).
Both schedules read the optimizer's step counter, so a resumed run continues them exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import tensorflow as tf

SCHEDULE = "schedule"
FIXED_PREFIX = "fixed:"


@dataclass(frozen=True)
class LambdaSchedule:
    """`schedule` (Ganin's lambda_p with `gamma`) or a constant `value`."""

    value: float | None = None  # None: the schedule
    gamma: float = 10.0

    def __call__(self, progress) -> tf.Tensor:
        progress = tf.cast(progress, tf.float32)
        if self.value is not None:
            return tf.constant(self.value, tf.float32)
        return 2.0 / (1.0 + tf.exp(-self.gamma * progress)) - 1.0

    @property
    def spec(self) -> str:
        return SCHEDULE if self.value is None else f"{FIXED_PREFIX}{self.value:g}"


def parse_lambda(text: str, gamma: float = 10.0) -> LambdaSchedule:
    """`schedule` or `fixed:VALUE` (ValueError with the accepted forms otherwise)."""
    text = text.strip().lower()
    if text == SCHEDULE:
        return LambdaSchedule(None, gamma)
    if text.startswith(FIXED_PREFIX):
        try:
            value = float(text[len(FIXED_PREFIX):])
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return LambdaSchedule(value, gamma)
            raise ValueError(f"--lambda fixed:VALUE needs a finite number, got {text!r}")
    raise ValueError(f"--lambda must be 'schedule' or 'fixed:VALUE' (e.g. fixed:1), got {text!r}")


@keras.saving.register_keras_serializable(package="domain_adaptation")
class AnnealedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """mu_p = mu_0 / (1 + alpha p) ** beta with p = step / total_steps (alpha=0: constant mu_0)."""

    def __init__(self, initial: float = 0.01, total_steps: int = 1, alpha: float = 10.0, beta: float = 0.75):
        self.initial = float(initial)
        self.total_steps = max(int(total_steps), 1)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def __call__(self, step):
        progress = tf.minimum(tf.cast(step, tf.float32) / self.total_steps, 1.0)
        return self.initial / tf.pow(1.0 + self.alpha * progress, self.beta)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps, "alpha": self.alpha, "beta": self.beta}
