"""The custom training loop: GradientTape steps compiled with tf.function, under any tf.distribute strategy.

What the loop does per batch (global step = batches trained since the run started, from 0):
softmax cross-entropy on logits, plain SGD update of the trainable variables only, accuracy
by argmax. Every `display_step` batches a second compiled step (traced once, so ordinary steps
pay nothing) also summarises the variables before the update and their gradients, in the same
graph call (`DisplaySummary`: the run's logger turns them into histogram tables there, so no
weight-sized tensor leaves the graph), and the observer logs the summary. After each epoch it
evaluates the whole validation set, logs, and checkpoints.

Under a strategy every replica computes the summed loss of its slice divided by the number of
examples in the *global* batch, so the all-reduced (summed) gradients equal the gradients of
the mean loss, for any replica count and for a short last batch.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf

from utilities.finetune.distribute import unless_empty

SUM = tf.distribute.ReduceOp.SUM


class NonFiniteLossError(RuntimeError):
    """The loss or the weights became NaN or infinite: training stops instead of saving garbage.

    Epochs are only checkpointed when their weights and validation loss are finite. Finite is not
    healthy, though: a run that diverges often reaches a validation loss of 1e32 an epoch before it
    reaches NaN. `judged(history, num_classes)` rewrites the advice from the run's validation losses
    (what the CLI prints): the newest checkpoint is only recommended when its loss is sane.
    """

    def __init__(self, step: int, epoch: int, problem: str, learning_rate: float, restart: str | None = None):
        self.step, self.epoch, self.problem, self.learning_rate = step, epoch, problem, learning_rate
        if restart is None:
            restart = (f"--resume continues from the checkpoint of epoch {epoch}, which is finite" if epoch
                       else "no epoch was saved: start again without --resume")
        super().__init__(
            f"{problem} at step {step} (epoch {epoch + 1}); training stopped, nothing of this "
            f"epoch was saved. The learning rate is probably too high: lower --learning-rate (now "
            f"{learning_rate:g}, e.g. {learning_rate / 10:g}); {restart}")

    def judged(self, history: Sequence[dict], num_classes: int) -> NonFiniteLossError:
        """The same stop, advised from the validation losses of `history` (EpochRecord dicts)."""
        return NonFiniteLossError(self.step, self.epoch, self.problem, self.learning_rate,
                                  resume_advice(history, self.epoch, num_classes))


# A checkpoint is sane to resume from when its validation loss is within this factor of the run's
# best one, or of chance level (ln C, what a uniform guess scores) when the best is lower; and never
# above SANE_LOSS_CAP x chance level, however bad the best epoch was (a run that exploded in epoch 1).
SANE_LOSS_FACTOR = 3.0
SANE_LOSS_CAP = 10.0


def sane_loss_limit(history: Sequence[dict], num_classes: int) -> float:
    losses = [h["val_loss"] for h in history if h.get("val_loss") is not None and math.isfinite(h["val_loss"])]
    chance = math.log(max(num_classes, 2))
    return min(SANE_LOSS_FACTOR * max(min(losses, default=0.0), chance), SANE_LOSS_CAP * chance)


def resume_advice(history: Sequence[dict], epoch: int, num_classes: int) -> str:
    """What to do after a NaN stop once `epoch` epochs were checkpointed, judged by their losses."""
    if not epoch:
        return "no epoch was saved: start again without --resume"
    by_epoch = {h["epoch"]: h.get("val_loss") for h in history if h.get("epoch") is not None}
    latest = by_epoch.get(epoch)
    if latest is None:       # no record of it (an old run.json): finiteness is all we know
        return f"--resume continues from the checkpoint of epoch {epoch}, which is finite"
    limit = sane_loss_limit([h for h in history if h.get("epoch", 0) <= epoch], num_classes)
    finite = {e: v for e, v in by_epoch.items() if e <= epoch and v is not None and math.isfinite(v)}
    best_epoch = min(finite, key=finite.get)
    best = f"best {finite[best_epoch]:.4g} at epoch {best_epoch}"
    if math.isfinite(latest) and latest <= limit:
        return (f"--resume continues from the checkpoint of epoch {epoch} (validation loss {latest:.4g}; "
                f"{best})")
    sane = [e for e, v in sorted(finite.items()) if v <= limit and e < epoch]
    earlier = (f"the last sane one was epoch {sane[-1]} (validation loss {finite[sane[-1]]:.4g}), but --resume "
               "always takes the newest" if sane else "no epoch had a sane validation loss")
    return (f"do not --resume: the newest checkpoint, epoch {epoch}, had already diverged (validation loss "
            f"{latest:.4g}, over {limit:.3g}: {SANE_LOSS_FACTOR:g} x max(best, chance level ln "
            f"{max(num_classes, 2)}), at most {SANE_LOSS_CAP:g} x chance level; {best}) and resuming trains on "
            f"from there; {earlier}: start again "
            "without --resume at the lower --learning-rate")


class NoTrainingDataError(RuntimeError):
    """An epoch had no readable training example: nothing was trained, nothing is saved."""


class NoValidationDataError(RuntimeError):
    """Validation had no readable example: no loss or accuracy over 0 images is reported or saved."""


# (variables, their values before the update, the gradients) -> {tag: tensor}, traced into the
# display step. The default keeps the raw tensors; RunLogger.histogram_tables makes them tables.
DisplaySummary = Callable[[Sequence, Sequence[tf.Tensor], Sequence[tf.Tensor]], dict]


def variable_tag(variable) -> str:
    """`fc7/kernel` for a Keras 3 variable (its path), falling back to the TF name."""
    name = getattr(variable, "path", None) or variable.name
    return name.split(":")[0]


GRADIENT_SUFFIX = "/gradient"


def raw_display_summary(variables: Sequence, values: Sequence[tf.Tensor],
                        gradients: Sequence[tf.Tensor]) -> dict[str, tf.Tensor]:
    """`{"fc7/kernel": value before the step, "fc7/kernel/gradient": gradient, ...}`."""
    summary = {}
    for variable, value, gradient in zip(variables, values, gradients, strict=True):
        summary[variable_tag(variable)] = value
        summary[variable_tag(variable) + GRADIENT_SUFFIX] = gradient
    return summary


@dataclass
class TrainStepResult:
    loss: tf.Tensor
    accuracy: tf.Tensor
    display: dict | None = None    # the DisplaySummary of a display step


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    confusion: np.ndarray
    examples: int


class StepRunner:
    """Compiled train and evaluation steps of `network` on the trainable `variables`.

    `network` is the full model or, with cached features, the head that shares its layers.
    Steps take one element of a (distributed) dataset: a tuple (inputs, labels).
    `display_summary` is traced into the display step (see `DisplaySummary`).
    """

    def __init__(self, network: keras.Model, variables: Sequence, optimizer: keras.optimizers.Optimizer,
                 *, num_classes: int, strategy: tf.distribute.Strategy | None = None,
                 display_summary: DisplaySummary = raw_display_summary):
        self.network = network
        self.display_summary = display_summary
        self.variables = list(variables)
        if not self.variables:
            raise ValueError("nothing to train: no trainable variables (check --train-layers)")
        self.optimizer = optimizer
        self.num_classes = num_classes
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            optimizer.build(self.variables)
        self._compiled: dict[str, Callable] = {}
        self._all_finite: Callable | None = None

    # ----- replica functions (run once per replica inside strategy.run) -----
    def _logits(self, inputs, *, training: bool):
        """The network's float32 logits; never runs it on a replica's empty batch (see unless_empty)."""
        return unless_empty(self.strategy, lambda: tf.cast(self.network(inputs, training=training), tf.float32),
                            inputs, (self.num_classes,))

    def _train_replica(self, inputs, labels, with_gradients: bool):
        context = tf.distribute.get_replica_context()
        labels = tf.cast(labels, tf.int32)
        count = context.all_reduce(SUM, tf.cast(tf.size(labels), tf.float32))
        # Watch only what trains. Keras leaves frozen layers' tf.Variables `trainable=True`, so a
        # default tape would also record (and, run eagerly, differentiate) the frozen convolutions.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([getattr(v, "value", v) for v in self.variables])
            logits = self._logits(inputs, training=True)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            loss = tf.reduce_sum(per_example) / tf.maximum(count, 1.0)
        gradients = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(gradients, self.variables, strict=True))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels),
                                        tf.float32))
        accuracy = correct / tf.maximum(count, 1.0)
        return (loss, accuracy, gradients) if with_gradients else (loss, accuracy)

    def _eval_replica(self, inputs, labels):
        labels = tf.cast(labels, tf.int32)
        logits = self._logits(inputs, training=False)
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        confusion = tf.math.confusion_matrix(labels, predictions, num_classes=self.num_classes,
                                             dtype=tf.float64)
        return (tf.reduce_sum(tf.cast(per_example, tf.float64)),
                tf.cast(tf.size(labels), tf.float64), confusion)

    # ----- distributed steps, compiled once per kind with the dataset's element spec -----
    def _train(self, batch, display: bool):
        # Reads have value semantics: `values` keep the pre-update weights (copy on write).
        values = [tf.identity(getattr(v, "value", v)) for v in self.variables] if display else None
        results = self.strategy.run(self._train_replica, args=(*batch, display))
        loss = self.strategy.reduce(SUM, results[0], axis=None)
        accuracy = self.strategy.reduce(SUM, results[1], axis=None)
        if not display:
            return loss, accuracy
        gradients = [self.strategy.reduce(SUM, g, axis=None) for g in results[2]]
        return loss, accuracy, self.display_summary(self.variables, values, gradients)

    def _evaluate(self, batch):
        results = self.strategy.run(self._eval_replica, args=batch)
        return tuple(self.strategy.reduce(SUM, r, axis=None) for r in results)

    def _function(self, kind: str, element_spec) -> Callable:
        if kind not in self._compiled:
            python = {"train": lambda b: self._train(b, False),
                      "display": lambda b: self._train(b, True),
                      "evaluate": self._evaluate}[kind]
            self._compiled[kind] = tf.function(python, input_signature=[element_spec])
        return self._compiled[kind]

    def train_step(self, batch, element_spec, *, display: bool = False) -> TrainStepResult:
        """One SGD step; a display step also returns its `display_summary`."""
        out = self._function("display" if display else "train", element_spec)(batch)
        return TrainStepResult(out[0], out[1], out[2] if display else None)

    def evaluate(self, dataset: tf.data.Dataset) -> Evaluation:
        """Loss, accuracy and confusion matrix over every example of `dataset`."""
        distributed = self.strategy.experimental_distribute_dataset(dataset)
        function = self._function("evaluate", distributed.element_spec)
        loss_sum, count, confusion = 0.0, 0.0, np.zeros((self.num_classes,) * 2)
        for batch in distributed:
            batch_loss, batch_count, batch_confusion = function(batch)
            loss_sum += float(batch_loss)
            count += float(batch_count)
            confusion += batch_confusion.numpy()
        correct = float(np.trace(confusion))
        return Evaluation(loss=loss_sum / max(count, 1.0), accuracy=correct / max(count, 1.0),
                          confusion=confusion.astype(np.int64), examples=int(count))

    def weights_finite(self) -> bool:
        """Whether every trained variable holds only finite values (checked before each save).

        One compiled reduction: copying a 67 MB kernel to NumPy every epoch cost ~60 ms.
        """
        if self._all_finite is None:
            self._all_finite = tf.function(lambda: tf.reduce_all(
                [tf.reduce_all(tf.math.is_finite(getattr(v, "value", v))) for v in self.variables]))
        return bool(self._all_finite())

    def tracing_counts(self) -> dict[str, int]:
        """How often each step was traced (1 each: histograms never force a retrace)."""
        return {kind: f.experimental_get_tracing_count() for kind, f in self._compiled.items()}


class EpochData(Protocol):
    """Where the loop gets its batches: (inputs, labels) tuples."""

    def train_batches(self, epoch: int) -> tf.data.Dataset: ...
    def validation_batches(self) -> tf.data.Dataset: ...


class TrainingObserver(Protocol):
    """What the loop reports to (TensorBoard logger); all optional no-ops in `SilentObserver`.

    `train_step` is called at display steps only, with that step's display summary.
    """

    def train_step(self, step: int, *, loss: float, accuracy: float, learning_rate: float,
                   display: dict) -> None: ...
    def speed(self, step: int, images_per_second: float) -> None: ...
    def validation_epoch(self, step: int, *, loss: float, accuracy: float, confusion: np.ndarray,
                         epoch: int) -> None: ...


class SilentObserver:
    def train_step(self, step, **kwargs): pass
    def speed(self, step, images_per_second): pass
    def validation_epoch(self, step, **kwargs): pass


@dataclass
class EpochRecord:
    """One finished epoch, for the end-of-run report (epochs count from 1 here)."""

    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    images_per_second: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _no_progress(iterable: Iterable, **_) -> Iterable:
    return iterable


def fit(runner: StepRunner, data: EpochData, *, epochs: int, display_step: int,
        step: tf.Variable, epoch: tf.Variable, observer: TrainingObserver | None = None,
        on_epoch_end: Callable[[EpochRecord], None] | None = None,
        progress: Callable[..., Iterable] = _no_progress) -> list[EpochRecord]:
    """Train from epoch `epoch` (finished epochs) up to `epochs`, continuing global `step`.

    `step`/`epoch` are the checkpointed counters; they advance here. `on_epoch_end` runs after
    validation (the CLI checkpoints there). Raises NonFiniteLossError on a NaN/inf loss.
    """
    if display_step < 1:
        raise ValueError(f"--display-step must be >= 1, got {display_step}")
    observer = observer or SilentObserver()
    records = []
    learning_rate = float(keras.ops.convert_to_numpy(runner.optimizer.learning_rate))
    while int(epoch.numpy()) < epochs:
        current = int(epoch.numpy())
        distributed = runner.strategy.experimental_distribute_dataset(data.train_batches(current))
        spec = distributed.element_spec
        loss_sum = accuracy_sum = 0.0
        batches = 0
        images = 0
        started = time.perf_counter()
        bar = progress(distributed, desc=f"epoch {current + 1}/{epochs}", unit="batch", leave=False,
                       total=getattr(data, "steps_per_epoch", None))
        for batch in bar:
            global_step = int(step.numpy())
            display = global_step % display_step == 0
            result = runner.train_step(batch, spec, display=display)
            loss = float(result.loss)
            if not math.isfinite(loss):
                raise NonFiniteLossError(global_step, current, f"loss is {loss}", learning_rate)
            accuracy = float(result.accuracy)
            if display:
                observer.train_step(global_step, loss=loss, accuracy=accuracy, learning_rate=learning_rate,
                                    display=result.display)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.2f}")
            step.assign_add(1)
            batches += 1
            images += _batch_size(batch, runner.strategy)
            loss_sum += loss
            accuracy_sum += accuracy
        seconds = time.perf_counter() - started
        if batches == 0:
            raise NoTrainingDataError(f"epoch {current + 1} had no readable training image: every listed "
                                      "image was skipped as unreadable")
        evaluation = runner.evaluate(data.validation_batches())
        if evaluation.examples == 0:
            raise NoValidationDataError(f"epoch {current + 1}: every validation image was skipped as unreadable")
        global_step = int(step.numpy())
        if not runner.weights_finite():
            raise NonFiniteLossError(global_step, current, "the trained weights are not finite", learning_rate)
        if not math.isfinite(evaluation.loss):
            raise NonFiniteLossError(global_step, current, f"validation loss is {evaluation.loss}", learning_rate)
        observer.speed(max(global_step - 1, 0), images / max(seconds, 1e-9))
        observer.validation_epoch(global_step, loss=evaluation.loss, accuracy=evaluation.accuracy,
                                  confusion=evaluation.confusion, epoch=current + 1)
        epoch.assign_add(1)
        record = EpochRecord(epoch=current + 1, step=global_step, train_loss=loss_sum / max(batches, 1),
                             train_accuracy=accuracy_sum / max(batches, 1), val_loss=evaluation.loss,
                             val_accuracy=evaluation.accuracy, images_per_second=images / max(seconds, 1e-9))
        records.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
    return records


def _batch_size(batch, strategy: tf.distribute.Strategy) -> int:
    labels = batch[1]
    parts = strategy.experimental_local_results(labels)
    return int(sum(int(tf.shape(p)[0]) for p in parts))
