"""When `--explain-every` explains: every N epochs, or `auto` within a share of the training time.

`--explain-every N` explains before training, after every N epochs' validation and after the
last epoch, whatever it costs.

`auto` (the default) keeps every explanation call, the ones it always makes included, within
`AUTO_BUDGET` (5 %) of the wall time spent training and validating, as far as the one call it
cannot skip allows:

- **after the last epoch**: always (the final maps are the point); the one call that may
  exceed the budget on its own (a short run on a CPU: the first call traces the explanation
  functions, seconds). The report then says so.
- **the deletion/insertion curves** of a call (the larger part of its cost) only when they fit
  too: once the call's maps are made, their measured time times `CURVES_PER_MAPS` is the
  curves' (and the images') estimate; a call whose curves would break the budget (with the
  reserve for the last epoch's call) is written without them, and the report says after which
  epochs. So the issue's short run (30 epochs of 512 images) keeps the promise.
- **before training** (the maps of the network as it was, and what `gradcam_mass_moved` first
  compares with): deferred. The trained layers' starting weights are kept aside (only those:
  the rest is frozen) and the call is made with them at the first call the run makes anyway,
  when that call's measured cost and the training time so far show that it fits, together with
  a reserve for the last epoch's call; otherwise it is skipped and the report says why. It is
  written at the step it belongs to (before the other call's maps in the event file).
  A resumed run treats the maps of the weights it resumed from the same way (computed for
  `gradcam_mass_moved`, never written twice).
- **after an intermediate epoch**: when this call and the reserve for the last epoch's both
  fit within the budget of the training time *so far* (never spending budget not yet earned).
  A call's cost is the last call's; before any call it is an estimate,
  `FIRST_CALL_FORWARDS` forward passes of the whole network per explained image (the first
  call traces the explanation functions), from the forward time the run measured: the feature
  cache's pass, or the first epoch's training (an over-estimate: decoding and backward too).

All decisions are pure functions of the durations recorded here (tests inject them);
`describe()` says what was done and the share it came to. bench/explain_logging_bench.py
measures the calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AUTO = "auto"
AUTO_BUDGET = 0.05
# A first explanation call (tracing included) costs at most about this many forward passes of the
# whole network per explained image: measured on the 2-core CPU, 8 images, against the forward of one
# image in a compiled batch of 32: SqueezeNet 1.1 80 (later calls 28), AlexNet 31 (later 21). The
# forward times the run supplies include decoding (the cache) or more (an epoch), so the prior is high.
FIRST_CALL_FORWARDS = 80
# The curves and the written images cost up to about this many times the call's maps, measured (2-core CPU,
# AlexNet, 8 images): 1.9x on a first call (both traced), 2.7x on later ones.
CURVES_PER_MAPS = 3.0

# what happened to the maps before training (or, resumed, of the weights resumed from)
BEFORE_AT_START = "at start"     # --explain-every N: made before training
BEFORE_PENDING = "pending"       # auto: deferred to the first call
BEFORE_WRITTEN = "written"       # auto: made (at the first call) and written at the start step
BEFORE_COMPUTED = "computed"     # auto, resumed: made for gradcam_mass_moved, not written again
BEFORE_SKIPPED = "skipped"       # auto: did not fit


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
    """Decides when to explain; records the durations it decided from and what it did."""

    every: int | str
    last_epoch: int
    budget: float = AUTO_BUDGET
    training_seconds: float = 0.0          # training + validation wall time so far
    explaining_seconds: float = 0.0        # every explanation call so far, "before training" included
    last_call_seconds: float | None = None
    estimate_seconds: float | None = None  # auto, before any call: the expected cost of the first one
    explained_epochs: list[int] = field(default_factory=list)
    before: str = BEFORE_AT_START
    before_seconds: float | None = None
    skip_reason: str = ""
    curves_left_out: list[int] = field(default_factory=list)   # auto: epochs whose call had no curves

    def __post_init__(self):
        if self.every != AUTO and (not isinstance(self.every, int) or self.every < 1):
            raise ValueError(f"every must be 'auto' or >= 1, got {self.every!r}")
        if self.every == AUTO:
            self.before = BEFORE_PENDING

    @property
    def deferred(self) -> bool:
        """Whether the call before training waits for the first call (auto) instead of being made at once."""
        return self.before == BEFORE_PENDING

    # ----- what happened -----
    def record_call(self, seconds: float) -> None:
        """An explanation call took `seconds`."""
        self.explaining_seconds += seconds
        self.last_call_seconds = seconds

    def record_training(self, seconds: float) -> None:
        """`seconds` of training and validation passed since the last decision."""
        self.training_seconds += seconds

    def record_before(self, seconds: float, *, written: bool) -> None:
        """The deferred call with the starting weights took `seconds` (written, or only computed when resumed)."""
        self.record_call(seconds)
        self.before_seconds = seconds
        self.before = BEFORE_WRITTEN if written else BEFORE_COMPUTED

    def estimate_first_call(self, forward_seconds_per_image: float, images: int) -> None:
        """Set the prior cost of a first call from the measured forward time of the whole network."""
        if self.last_call_seconds is None and forward_seconds_per_image > 0:
            self.estimate_seconds = FIRST_CALL_FORWARDS * images * forward_seconds_per_image

    # ----- decisions -----
    def call_estimate(self) -> float | None:
        """The expected cost of the next call: the last call's, else the prior, else None (unknown)."""
        return self.last_call_seconds if self.last_call_seconds is not None else self.estimate_seconds

    def due(self, epoch: int) -> bool:
        """Whether to explain after epoch `epoch` (counted from 1)."""
        if epoch >= self.last_epoch:
            return True
        if self.every != AUTO:
            return epoch % self.every == 0
        estimate = self.call_estimate()
        if estimate is None:        # no idea what a call costs: only the last epoch's
            return False
        return self.explaining_seconds + 2 * estimate <= self.budget * self.training_seconds

    def curves_fit(self, epoch: int, maps_seconds: float) -> bool:
        """At the call after epoch `epoch` whose maps took `maps_seconds`: whether its deletion/insertion
        curves fit too (always with --explain-every N). The call is estimated as `maps_seconds` x
        (1 + CURVES_PER_MAPS), plus, before the last epoch, the last epoch's reserve. Records a no."""
        if self.every != AUTO:
            return True
        reserve = 0.0 if epoch >= self.last_epoch else (self.call_estimate() or 0.0)
        call = maps_seconds * (1 + CURVES_PER_MAPS)
        if self.explaining_seconds + call + reserve <= self.budget * self.training_seconds:
            return True
        self.curves_left_out.append(epoch)
        return False

    def before_due(self, epoch: int, computed_seconds: float) -> bool:
        """At a call after epoch `epoch` whose maps took `computed_seconds` (not yet written or recorded):
        whether the deferred call with the starting weights fits too. It, this call and (before the last
        epoch) the last epoch's reserve are each estimated as the larger of `computed_seconds` and the last
        call. Marks the call skipped when it does not fit."""
        if self.before != BEFORE_PENDING:
            return False
        cost = max(computed_seconds, self.last_call_seconds or 0.0)
        calls = 2 + (epoch < self.last_epoch)
        allowed = self.budget * self.training_seconds
        if self.explaining_seconds + calls * cost <= allowed:
            return True
        self.before = BEFORE_SKIPPED
        self.skip_reason = (f"a call costs ~{cost:.1f} s and {self.budget:.0%} of the {self.training_seconds:.1f} s "
                            f"of training so far is {allowed:.1f} s")
        return False

    # ----- report -----
    def share(self) -> float:
        return self.explaining_seconds / max(self.training_seconds, 1e-9)

    def describe(self) -> str:
        """What was explained when, e.g. 'auto (within 5% of the training time; here 4.1%): before training,
        after epochs 12, 16, 30; ...'."""
        epochs = ", ".join(str(e) for e in self.explained_epochs) or "none"
        if self.every != AUTO:
            return f"every {self.every} epoch(s): after epochs {epochs}"
        before = {BEFORE_AT_START: "before training, ",
                  BEFORE_WRITTEN: "before training (made at the first call with the starting weights), ",
                  BEFORE_COMPUTED: "the resumed-from weights (for gradcam_mass_moved), ",
                  BEFORE_SKIPPED: "", BEFORE_PENDING: ""}[self.before]
        text = (f"auto (within {self.budget:.0%} of the training time; here {self.share():.1%}): {before}"
                f"after epochs {epochs}")
        if self.before == BEFORE_SKIPPED:
            text += f"; the maps before training were skipped ({self.skip_reason})"
        if self.curves_left_out:
            text += (f"; without the deletion/insertion curves after epoch(s) "
                     f"{', '.join(map(str, self.curves_left_out))} (they did not fit)")
        if (self.explained_epochs == [self.last_epoch] and self.last_call_seconds is not None
                and self.last_call_seconds > self.budget * self.training_seconds):
            text += "; the last epoch's call is always made and alone exceeded the budget"
        return text + "; --explain-every 1 explains every epoch"
