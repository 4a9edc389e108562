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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.hparams import api as hp

from utilities.common.tb_images import image_summary
from utilities.finetune.confusion_image import ConfusionFigure
from utilities.finetune.training import raw_display_summary

LOSS_TAG = "cross_entropy"
ACCURACY_TAG = "accuracy"
LEARNING_RATE_TAG = "learning_rate"
SPEED_TAG = "images_per_second"
CONFUSION_TAG = "confusion_matrix"


DEFAULT_BUCKETS = 30
CHUNK = 1 << 20   # values per histogram_fixed_width call (see _chunked_counts)


def histogram_buckets(data, bucket_count: int = DEFAULT_BUCKETS) -> tf.Tensor:
    """The (bucket_count, 3) [left, right, count] table TensorBoard's histogram plugin reads.

    Same table as `tf.summary.histogram`, computed with `tf.histogram_fixed_width` (one pass,
    integer counts) instead of a float64 one-hot of every value, which for a large FC kernel
    allocates gigabytes on every display step (README, "What is logged"). Pure graph code (no
    host round trip), so the display step computes its tables in its own graph call
    (`histogram_tables`).
    """
    data = tf.reshape(tf.cast(data, tf.float32), [-1])
    if data.shape[0] == 0:
        return tf.zeros((bucket_count, 3), tf.float64)
    low, high = tf.reduce_min(data), tf.reduce_max(data)
    # A constant tensor gets one bucket holding every value at its right end, as TensorBoard does.
    spread = tf.where(high > low, high, low + 1.0)
    counts = _chunked_counts(data, tf.stack([low, spread]), bucket_count)
    low64, high64 = tf.cast(low, tf.float64), tf.cast(high, tf.float64)
    edges = tf.concat([tf.linspace(low64, high64, bucket_count + 1)[:-1], [high64]], 0)
    size = tf.cast(tf.size(data), tf.float64)
    constant_counts = tf.concat([tf.zeros([bucket_count - 1], tf.float64), [size]], 0)
    counts = tf.where(high > low, tf.cast(counts, tf.float64), constant_counts)
    lefts = tf.where(high > low, edges[:-1], tf.fill([bucket_count], high64))
    rights = tf.where(high > low, edges[1:], tf.fill([bucket_count], high64))
    return tf.stack([lefts, rights, counts], axis=1)


def _chunked_counts(data: tf.Tensor, value_range: tf.Tensor, bucket_count: int) -> tf.Tensor:
    """`tf.histogram_fixed_width` over chunks of at most CHUNK values, summed: the same counts.

    The op's CPU kernel materialises a bin index per value and counts them in one serial loop;
    on a 16.7 M-value FC kernel that is ~4x slower than chunks whose temporaries stay in cache
    and that run on every core (bench/finetune_run_bench.py, "summaries").
    """
    size = data.shape[0]
    if size is None or size <= CHUNK:
        return tf.histogram_fixed_width(data, value_range, nbins=bucket_count)
    sizes = [CHUNK] * (size // CHUNK) + ([size % CHUNK] if size % CHUNK else [])
    return tf.add_n([tf.histogram_fixed_width(part, value_range, nbins=bucket_count)
                     for part in tf.split(data, sizes)])


HISTOGRAM_METADATA = histogram_metadata.create_summary_metadata(display_name=None, description="")


def histogram_tables(variables: Sequence, values: Sequence[tf.Tensor],
                     gradients: Sequence[tf.Tensor]) -> dict[str, tf.Tensor]:
    """The display step's summary (a `training.DisplaySummary`): one histogram table per
    variable (its value before the update) and per gradient, under the TF1 skeleton's tags.

    Traced into the display step itself, so the tables are computed in the same graph call
    as the step, in parallel with it, and only (30, 3) tables leave the graph.
    """
    return {tag: histogram_buckets(tensor)
            for tag, tensor in raw_display_summary(variables, values, gradients).items()}


class RunLogger:
    """The summary writers of one run. With `enabled=False` (non-chief workers) nothing is written."""

    def __init__(self, run_dir: str | Path, class_names: Sequence[str], *, enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.class_names = list(class_names)
        self.enabled = enabled
        # The confusion image is drawn by matplotlib (~0.25 s, as long as a cached epoch of 512
        # images): a worker thread draws and writes it while the next epoch trains.
        self._drawing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confusion-image")
        self._pending: list[Future] = []
        self._figure: ConfusionFigure | None = None   # made and used by the drawing thread only
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

    def train_step(self, step: int, *, loss: float, accuracy: float, learning_rate: float,
                   display: Mapping[str, tf.Tensor] | None = None) -> None:
        """Scalars of one display step and its histogram tables (`histogram_tables`)."""
        with self.train.as_default(step=step):
            tf.summary.scalar(LOSS_TAG, loss)
            tf.summary.scalar(ACCURACY_TAG, accuracy)
            tf.summary.scalar(LEARNING_RATE_TAG, learning_rate)
            for tag, table in (display or {}).items():
                tf.summary.write(tag, table, metadata=HISTOGRAM_METADATA)

    def speed(self, step: int, images_per_second: float) -> None:
        """Training throughput of an epoch, logged at the step of its last batch."""
        with self.train.as_default(step=step):
            tf.summary.scalar(SPEED_TAG, images_per_second)

    def validation_epoch(self, step: int, *, loss: float, accuracy: float, confusion: np.ndarray,
                         epoch: int) -> None:
        """Validation loss/accuracy over the whole validation set, and the confusion image
        (drawn and written in the background; `flush`/`close` wait for it)."""
        with self.validation.as_default(step=step):
            tf.summary.scalar(LOSS_TAG, loss)
            tf.summary.scalar(ACCURACY_TAG, accuracy)
        if self.enabled:
            finished = [f for f in self._pending if f.done()]
            for future in finished:
                future.result()   # re-raises a drawing error of an earlier epoch
            self._pending = [f for f in self._pending if f not in finished]
            self._pending.append(self._drawing.submit(self._confusion_image, step, np.array(confusion),
                                                      f"epoch {epoch}: accuracy {accuracy:.3f}"))
        for writer in (self.train, self.validation, self.session):
            writer.flush()

    def _confusion_image(self, step: int, confusion: np.ndarray, title: str) -> None:
        if self._figure is None:
            self._figure = ConfusionFigure(self.class_names)
        pixels = self._figure.pixels(confusion, title)
        with self.validation.as_default(step=step):
            image_summary(CONFUSION_TAG, pixels)
        self.validation.flush()

    def flush(self) -> None:
        """Write everything logged so far, the confusion images being drawn included."""
        for future in self._pending:
            future.result()   # re-raises a drawing error here
        self._pending = []
        for writer in (self.train, self.validation, self.session):
            writer.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._drawing.shutdown(wait=True)
            for writer in (self.train, self.validation, self.session):
                writer.close()
