"""TensorBoard output of one training run: what is logged, under which tag, in which writer.

Layout (so `tensorboard --logdir logs` overlays runs and splits train from validation):
    <run_dir>/train/       cross_entropy, accuracy, learning_rate (every display step),
                           <layer>/<weight> and <layer>/<weight>/gradient histograms (same steps),
                           images_per_second (each epoch, at its last batch's step)
    <run_dir>/validation/  cross_entropy, accuracy, confusion_matrix image (each epoch)
    <run_dir>/             the HParams plugin record (one session per run)
Tags follow the original TF1 skeleton (`cross_entropy`, `accuracy`, `<var>/gradient`).
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.hparams import api as hp

from utilities.finetune.confusion_image import confusion_matrix_png

LOSS_TAG = "cross_entropy"
ACCURACY_TAG = "accuracy"
LEARNING_RATE_TAG = "learning_rate"
SPEED_TAG = "images_per_second"
CONFUSION_TAG = "confusion_matrix"
GRADIENT_SUFFIX = "/gradient"


DEFAULT_BUCKETS = 30


def histogram_buckets(data, bucket_count: int = DEFAULT_BUCKETS) -> tf.Tensor:
    """The (bucket_count, 3) [left, right, count] table TensorBoard's histogram plugin reads.

    Same table as `tf.summary.histogram`, computed with `tf.histogram_fixed_width` (one pass,
    integer counts) instead of a float64 one-hot of every value, which for a large FC kernel
    allocates gigabytes on every display step (README, "What is logged"). Pure graph code (no
    host round trip), so `RunLogger` computes every table of a display step in one compiled call.
    """
    data = tf.reshape(tf.cast(data, tf.float32), [-1])
    if data.shape[0] == 0:
        return tf.zeros((bucket_count, 3), tf.float64)
    low, high = tf.reduce_min(data), tf.reduce_max(data)
    # A constant tensor gets one bucket holding every value at its right end, as TensorBoard does.
    spread = tf.where(high > low, high, low + 1.0)
    counts = tf.histogram_fixed_width(data, tf.stack([low, spread]), nbins=bucket_count)
    low64, high64 = tf.cast(low, tf.float64), tf.cast(high, tf.float64)
    edges = tf.concat([tf.linspace(low64, high64, bucket_count + 1)[:-1], [high64]], 0)
    size = tf.cast(tf.size(data), tf.float64)
    constant_counts = tf.concat([tf.zeros([bucket_count - 1], tf.float64), [size]], 0)
    counts = tf.where(high > low, tf.cast(counts, tf.float64), constant_counts)
    lefts = tf.where(high > low, edges[:-1], tf.fill([bucket_count], high64))
    rights = tf.where(high > low, edges[1:], tf.fill([bucket_count], high64))
    return tf.stack([lefts, rights, counts], axis=1)


HISTOGRAM_METADATA = histogram_metadata.create_summary_metadata(display_name=None, description="")


def write_histogram(tag: str, data, step, bucket_count: int = DEFAULT_BUCKETS) -> None:
    """A histogram summary (histogram plugin format) in the default writer."""
    tf.summary.write(tag, histogram_buckets(data, bucket_count), step=step, metadata=HISTOGRAM_METADATA)


class HistogramWriter:
    """Writes one histogram per tensor of a fixed list of tags in a single compiled call.

    Eagerly, each table costs a dozen small ops; a display step of AlexNet's remove-fc 2 head
    has 12 (values and gradients of 6 variables). Compiled, the tables are computed and handed
    to the (asynchronous) event writer in one graph execution: no Python per op, no host sync.
    """

    def __init__(self, writer, tags: Sequence[str]):
        self.writer = writer
        self.tags = list(tags)
        self._write = tf.function(self._write_all)

    def _write_all(self, tensors, step):
        with self.writer.as_default(step=step):
            for tag, tensor in zip(self.tags, tensors, strict=True):
                write_histogram(tag, tensor, step)

    def __call__(self, step: int, tensors: Sequence) -> None:
        self._write([tf.convert_to_tensor(t) for t in tensors], tf.constant(step, tf.int64))


def variable_tag(variable) -> str:
    """`fc7/kernel` for a Keras 3 variable (its path), falling back to the TF name."""
    name = getattr(variable, "path", None) or variable.name
    return name.split(":")[0]


class RunLogger:
    """The summary writers of one run. With `enabled=False` (non-chief workers) nothing is written."""

    def __init__(self, run_dir: str | Path, class_names: Sequence[str], *, enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.class_names = list(class_names)
        self.enabled = enabled
        self._histogram_writers: dict[tuple[str, ...], HistogramWriter] = {}
        if enabled:
            self.train = tf.summary.create_file_writer(str(self.run_dir / "train"))
            self.validation = tf.summary.create_file_writer(str(self.run_dir / "validation"))
            self.session = tf.summary.create_file_writer(str(self.run_dir))
        else:
            self.train = self.validation = self.session = tf.summary.create_noop_writer()

    def session_start(self, step: int) -> None:
        """Mark a (re)start at `step`: TensorBoard then drops what an interrupted run logged at
        steps >= `step` before it was killed, so a resumed run shows one curve, not two."""
        try:
            from tensorflow.python.ops.summary_ops_v2 import import_event
        except ImportError:  # internal API moved: duplicates after resume are only cosmetic
            return
        if not self.enabled:
            return
        # Validation of the last finished epoch sits exactly at `step` and stays; per-batch
        # summaries at `step` belong to the lost epoch and go.
        for writer, start in ((self.train, step), (self.validation, step + 1)):
            event = event_pb2.Event(step=start, wall_time=time.time(),
                                    session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
            with writer.as_default():
                import_event(tf.constant(event.SerializeToString()))
            writer.flush()

    def hparams(self, values: Mapping[str, object], trial_id: str) -> None:
        """Record the run's hyper-parameters so the HParams tab compares runs in one table."""
        with self.session.as_default():
            hp.hparams(dict(values), trial_id=trial_id)
        self.session.flush()

    def _histograms(self, tags: Sequence[str], step: int, tensors: Sequence) -> None:
        key = tuple(tags)
        if key not in self._histogram_writers:
            self._histogram_writers[key] = HistogramWriter(self.train, tags)
        self._histogram_writers[key](step, tensors)

    def variables(self, step: int, variables: Sequence) -> None:
        """Histograms of the trained variables (values that produce this step's gradients)."""
        if self.enabled:
            self._histograms([variable_tag(v) for v in variables], step, variables)

    def train_step(self, step: int, *, loss: float, accuracy: float, learning_rate: float,
                   gradients: Sequence | None = None, variables: Sequence = ()) -> None:
        """Scalars of one display step and, when given, one gradient histogram per variable."""
        with self.train.as_default(step=step):
            tf.summary.scalar(LOSS_TAG, loss)
            tf.summary.scalar(ACCURACY_TAG, accuracy)
            tf.summary.scalar(LEARNING_RATE_TAG, learning_rate)
        pairs = [(variable_tag(v) + GRADIENT_SUFFIX, g)
                 for v, g in zip(variables, gradients or (), strict=False) if g is not None]
        if pairs and self.enabled:
            self._histograms([tag for tag, _ in pairs], step, [g for _, g in pairs])

    def speed(self, step: int, images_per_second: float) -> None:
        """Training throughput of an epoch, logged at the step of its last batch."""
        with self.train.as_default(step=step):
            tf.summary.scalar(SPEED_TAG, images_per_second)

    def validation_epoch(self, step: int, *, loss: float, accuracy: float, confusion: np.ndarray,
                         epoch: int) -> None:
        """Validation loss/accuracy over the whole validation set and the confusion image."""
        png = confusion_matrix_png(confusion, self.class_names,
                                   title=f"epoch {epoch}: accuracy {accuracy:.3f}")
        image = tf.image.decode_png(png, channels=3)[tf.newaxis]
        with self.validation.as_default(step=step):
            tf.summary.scalar(LOSS_TAG, loss)
            tf.summary.scalar(ACCURACY_TAG, accuracy)
            tf.summary.image(CONFUSION_TAG, image)
        self.flush()

    def flush(self) -> None:
        for writer in (self.train, self.validation, self.session):
            writer.flush()

    def close(self) -> None:
        for writer in (self.train, self.validation, self.session):
            writer.close()
