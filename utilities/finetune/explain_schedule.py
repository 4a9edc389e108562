"""When `--explain-every` explains: every N epochs, or `auto` within a share of the training time.

`auto` (the default) explains after an epoch's validation when the explanations' total cost,
this one and the last epoch's included (both estimated by the last call), stays within
`AUTO_BUDGET` of the wall time spent training and validating so far; the last epoch is always
explained, so the final maps are there, and the reserve keeps the whole run within the budget
unless the two calls it always makes (before training, after the last epoch) exceed it alone.
On a GPU an explanation call costs milliseconds and `auto` explains every epoch;
on a CPU with the feature cache an epoch of the full lists costs a few seconds and the whole
AlexNet the explanations need costs about a third of one, so `auto` spaces them
out (bench/explain_logging_bench.py measures both). `--explain-every 1` explains every epoch
whatever it costs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AUTO = "auto"
AUTO_BUDGET = 0.05


def parse_every(value: str | int) -> int | str:
    """`--explain-every` value: "auto" or an int >= 0 (ValueError otherwise)."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        every = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--explain-every must be 'auto' or a number of epochs >= 0, got {value!r}") from None
    if every < 0:
        raise ValueError(f"--explain-every must be 'auto' or a number of epochs >= 0 (0: off), got {every}")
    return every


@dataclass
class ExplainSchedule:
    """Decides after each epoch's validation whether to explain; records what it decided."""

    every: int | str
    last_epoch: int
    budget: float = AUTO_BUDGET
    training_seconds: float = 0.0          # training + validation wall time so far (auto)
    explaining_seconds: float = 0.0        # every explanation call so far, "before training" included
    last_call_seconds: float | None = None
    explained_epochs: list[int] = field(default_factory=list)

    def __post_init__(self):
        if self.every != AUTO and (not isinstance(self.every, int) or self.every < 1):
            raise ValueError(f"every must be 'auto' or >= 1, got {self.every!r}")

    def record_call(self, seconds: float) -> None:
        """An explanation call took `seconds`."""
        self.explaining_seconds += seconds
        self.last_call_seconds = seconds

    def record_training(self, seconds: float) -> None:
        """`seconds` of training and validation passed since the last decision."""
        self.training_seconds += seconds

    def due(self, epoch: int) -> bool:
        """Whether to explain after epoch `epoch` (counted from 1)."""
        if epoch >= self.last_epoch:
            return True
        if self.every != AUTO:
            return epoch % self.every == 0
        estimate = self.last_call_seconds or 0.0   # this call, and as much reserved for the last epoch
        return self.explaining_seconds + 2 * estimate <= self.budget * self.training_seconds

    def describe(self) -> str:
        """'every epoch', 'every 5 epochs' or 'auto (<= 5 % of the training time): epochs 3, 6, 9'."""
        epochs = ", ".join(str(e) for e in self.explained_epochs) or "none"
        if self.every == AUTO:
            share = self.explaining_seconds / max(self.training_seconds, 1e-9)
            return (f"auto (within {self.budget:.0%} of the training time; here {share:.1%}): after epochs "
                    f"{epochs}; --explain-every 1 explains every epoch")
        return f"every {self.every} epoch(s): after epochs {epochs}"
