"""Explanations during fine-tuning: what the network looks at, epoch after epoch, in TensorBoard.

After the validation pass of every `--explain-every` epochs (and once before training starts),
a small fixed set of validation images (`--explain-images`, chosen seeded and stratified by
class) is explained with Grad-CAM (on the model's last conv layer) and gradient saliency, each
for the image's true class and for the class the network predicts now. Written to
`<run_dir>/explanations/` at the same step as the validation scalars:

    explanations/<nn>_<style>   image: one strip per image, panels input | Grad-CAM true |
                                Grad-CAM predicted | saliency true | saliency predicted
                                (overlays; the tag never changes, so the Images tab's step
                                slider shows a map change over fine-tuning)
    gradcam_mass_moved          share of the true-class Grad-CAM mass that moved since the
                                previous logged epoch: total variation distance between the
                                maps normalised to sum 1, mean over the images (0 = same place)
    deletion_auc/gradcam        deletion and insertion AUC (utilities.explain.metrics, RISE)
    insertion_auc/gradcam       of the predicted class's Grad-CAM map (lower / higher = the
                                map ranks pixels by importance better), mean over the images
    explanation_seconds         what this logging cost (the bench reports it per epoch)

Cost: one compiled call (traced once) does one forward pass of the images, the Grad-CAM class
gradients of the conv layer and the two backward passes to the input; the curves are one
`CurveScorer` call, (DELETION_STEPS + 1) x 2 forward passes per image, the largest part, so
only Grad-CAM is scored (saliency's curves would cost as much again; `assignment_3b.py
--evaluate` scores every method). Nothing depends on the size of the lists. With the feature
cache on, the full model still exists (the head shares its layers), so the explanations use it.
"""
from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

from utilities.common.tb_images import image_summary
from utilities.explain.base import Record, normalise_maps, resize_maps, selected_logits, softmax
from utilities.explain.gradcam import GradCAM
from utilities.explain.metrics import CurveScorer
from utilities.explain.plotting import HEATMAP_COLORMAP, SALIENCY_COLORMAP, colorize
from utilities.explain.saliency import VanillaGradient
from utilities.finetune.explain_schedule import BEFORE_AT_START, ExplainSchedule
from utilities.wikiart.dataset import ImageList
from utilities.wikiart.decode import decode_rgb, resize_uint8

WRITER_NAME = "explanations"
IMAGE_TAG_PREFIX = "explanations/"
MOVED_TAG = "gradcam_mass_moved"
DELETION_TAG = "deletion_auc/"
INSERTION_TAG = "insertion_auc/"
SECONDS_TAG = "explanation_seconds"
SCORED_METHODS = ("gradcam",)   # maps with deletion/insertion curves (each costs 2 x (steps + 1) forwards)
DEFAULT_IMAGES = 8
DELETION_STEPS = 4          # points after the start (0, 25, 50, 75, 100 % of the pixels): coarse, the same
                            # every epoch, and the curves are most of the cost (bench/explain_logging_bench.py)
PANELS = ("input", "Grad-CAM true", "Grad-CAM predicted", "saliency true", "saliency predicted")
CAPTION_PIXELS = 16
GRADCAM_ALPHA = 0.5


def stratified_order(labels: Sequence[int], seed: int = 0) -> np.ndarray:
    """Every index of `labels`, ordered so that each prefix is as class-balanced as possible.

    Round robin over the classes (in a seeded order), a seeded permutation inside each class:
    the first k indices cover min(k, classes) classes, and the choice is the same for a seed.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in rng.permutation(np.unique(labels))]
    longest = max((len(q) for q in queues), default=0)
    return np.asarray([q[i] for i in range(longest) for q in queues if i < len(q)], dtype=np.int64)


@dataclass(frozen=True)
class ExplanationImages:
    """The fixed images explained every time, sorted by (label, list index)."""

    indices: np.ndarray   # (K,) rows of the validation list
    labels: np.ndarray    # (K,) int32
    images: np.ndarray    # (K, S, S, 3) float32 RGB 0..255, decoded and resized as validation sees them

    def __len__(self) -> int:
        return len(self.indices)


def load_explanation_images(image_list: ImageList, count: int, size: int, seed: int = 0) -> ExplanationImages:
    """The first `count` readable images of `stratified_order(labels, seed)` (fewer if the list
    has fewer readable ones), decoded exactly like the validation pipeline (no flip)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    chosen, images = [], []
    for index in stratified_order(image_list.labels, seed):
        try:
            data = tf.io.read_file(image_list.paths[index])
            images.append(resize_uint8(decode_rgb(data), size).numpy())
        except (tf.errors.OpError, OSError):
            continue  # unreadable: the pipeline skips it too
        chosen.append(int(index))
        if len(chosen) == count:
            break
    order = sorted(range(len(chosen)), key=lambda i: (int(image_list.labels[chosen[i]]), chosen[i]))
    indices = np.asarray([chosen[i] for i in order], np.int64)
    stacked = (np.stack([images[i] for i in order]).astype(np.float32) if order
               else np.zeros((0, size, size, 3), np.float32))
    return ExplanationImages(indices, image_list.labels[indices].astype(np.int32), stacked)


@dataclass
class ExplanationMaps:
    """Raw maps of one call; column 0 = true class, column 1 = predicted class."""

    logits: np.ndarray      # (K, classes)
    classes: np.ndarray     # (K, 2) int32: true, predicted
    gradcam: np.ndarray     # (K, 2, h, w) at the conv layer's resolution
    saliency: np.ndarray    # (K, 2, H, W)

    @property
    def predicted(self) -> np.ndarray:
        return self.classes[:, 1]


class ExplanationProbe:
    """Grad-CAM and saliency of the true and the predicted class in one compiled call.

    The methods are the project's own (`GradCAM`, `VanillaGradient`); they build their maps from
    one `Record` of a single forward pass: `engine.SharedPass` ranks the classes itself, here the
    true class is one of the two explained, so the record is built for (true, predicted).
    """

    def __init__(self, model: keras.Model, preprocess, layer: str, image_shape: Sequence[int], count: int):
        self.gradcam = GradCAM(model, layer, preprocess=preprocess)
        self.saliency = VanillaGradient(model, preprocess=preprocess)
        spec = [tf.TensorSpec((count, *image_shape), tf.float32), tf.TensorSpec((count,), tf.int32)]
        self._function = tf.function(self._maps, input_signature=spec)

    def _maps(self, x, labels):
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
            tape.watch(x)
            activations, logits = self.gradcam.tapped(self.gradcam.model_input(x), training=False)
            predicted = tf.argmax(tf.cast(logits, tf.float32), axis=-1, output_type=tf.int32)
            classes = tf.stack([labels, predicted], axis=1)
            scores = selected_logits(logits, classes)
            true_score, predicted_score = tf.reduce_sum(scores[:, 0]), tf.reduce_sum(scores[:, 1])
        layer_gradients = tf.cast(tape.batch_jacobian(scores, activations), tf.float32)
        input_gradients = tf.stack([tape.gradient(true_score, x), tape.gradient(predicted_score, x)], axis=1)
        record = Record(x, tf.cast(logits, tf.float32), classes, tf.cast(activations, tf.float32),
                        layer_gradients, tf.cast(input_gradients, tf.float32))
        return record.logits, classes, self.gradcam.maps_from(record), self.saliency.maps_from(record)

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> ExplanationMaps:
        out = self._function(tf.constant(images, tf.float32), tf.constant(labels, tf.int32))
        return ExplanationMaps(*(np.asarray(t.numpy()) for t in out))

    def tracing_count(self) -> int:
        return self._function.experimental_get_tracing_count()


def mass_moved(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Per map (..., h, w): half the L1 distance between the maps normalised to sum 1.

    The share of the map's mass that has to move to turn one into the other (0: same, 1:
    disjoint). An all-zero map counts as uniform (no evidence anywhere).
    """
    def as_distribution(maps):
        maps = np.clip(np.asarray(maps, np.float64), 0.0, None)
        total = maps.sum(axis=(-2, -1), keepdims=True)
        uniform = np.full_like(maps, 1.0 / (maps.shape[-2] * maps.shape[-1]))
        return np.where(total > 0, maps / np.where(total > 0, total, 1.0), uniform)

    return 0.5 * np.abs(as_distribution(current) - as_distribution(previous)).sum(axis=(-2, -1))


def _caption(panel: np.ndarray, text: str) -> np.ndarray:
    band = np.full((CAPTION_PIXELS, panel.shape[1], 3), 255, np.uint8)
    ascii_text = text.encode("ascii", "replace").decode()
    cv2.putText(band, ascii_text, (3, CAPTION_PIXELS - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([band, panel], axis=0)


def overlay_strip(image: np.ndarray, gradcam01: np.ndarray, saliency01: np.ndarray,
                  captions: Sequence[str]) -> np.ndarray:
    """(S, S, 3) RGB 0..255 image, two Grad-CAM and two saliency maps in [0, 1] at (S, S) ->
    one uint8 strip of five captioned panels: the input, then each map over the input
    (Grad-CAM: jet at half opacity; saliency: hot, opacity = the map's value)."""
    unit = np.clip(image / 255.0, 0.0, 1.0).astype(np.float32)
    panels = [unit]
    for map01 in gradcam01:
        panels.append((1 - GRADCAM_ALPHA) * unit + GRADCAM_ALPHA * colorize(map01, HEATMAP_COLORMAP))
    for map01 in saliency01:
        alpha = np.clip(map01, 0.0, 1.0)[..., None]
        panels.append((1 - alpha) * unit + alpha * colorize(map01, SALIENCY_COLORMAP))
    panels = [_caption(np.round(np.clip(p, 0, 1) * 255).astype(np.uint8), c)
              for p, c in zip(panels, captions, strict=True)]
    gap = np.full((panels[0].shape[0], 2, 3), 255, np.uint8)
    return np.concatenate([x for p in panels for x in (p, gap)][:-1], axis=1)


def tag_slug(name: str) -> str:
    """"Art Nouveau (Modern)" -> "art_nouveau_modern" (a stable, readable tag part)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "class"


def _restart_marker(writer, step: int) -> None:
    """A SessionLog.START at `step`: TensorBoard drops what a killed run logged at >= step."""
    try:
        from tensorflow.python.ops.summary_ops_v2 import import_event
    except ImportError:  # internal API moved: duplicates after a resume are only cosmetic
        return
    event = event_pb2.Event(step=step, wall_time=time.time(),
                            session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
    with writer.as_default():
        import_event(tf.constant(event.SerializeToString()))
    writer.flush()


@dataclass
class PendingCall:
    """An explanation call computed but not written yet (`ExplanationLogger.compute`)."""

    maps: ExplanationMaps
    shown: dict[str, np.ndarray]      # Grad-CAM at the image size, saliency
    curves: object                    # the CurveScorer's result (deletion_auc, insertion_auc), None: left out
    clock: list[float]                # perf_counter at the start, after the maps, after the curves

    @property
    def seconds(self) -> float:
        return self.clock[-1] - self.clock[0]


class ExplanationLogger:
    """Explains `images` with `model` and writes images and scalars to `<run_dir>/explanations`.

    `start(step)` once before training (writes the "before fine-tuning" maps unless resuming,
    where it only recomputes the maps the next `mass moved` compares with), then `log(step)`.
    """

    def __init__(self, run_dir: str | Path, model: keras.Model, preprocess, layer: str,
                 images: ExplanationImages, class_names: Sequence[str], *,
                 deletion_steps: int = DELETION_STEPS, seed: int = 0):
        if not len(images):
            raise ValueError("no image to explain")
        self.images = images
        self.class_names = list(class_names)
        self.seed = seed
        self.probe = ExplanationProbe(model, preprocess, layer, images.images.shape[1:], len(images))
        maps = len(SCORED_METHODS) * len(images)  # every curve in one traced call, 3 passes of the model
        self.scorer = CurveScorer(model, preprocess, steps=deletion_steps, batch_size=maps,
                                  pass_batch=maps * math.ceil((deletion_steps + 1) / 3))
        self.writer = tf.summary.create_file_writer(str(Path(run_dir) / WRITER_NAME))
        self.previous: np.ndarray | None = None
        self.seconds: list[float] = []
        self.parts: list[dict[str, float]] = []   # per call: seconds of "maps", "curves", "images"
        self.tags = [f"{IMAGE_TAG_PREFIX}{i:02d}_{tag_slug(self._name(label))}"
                     for i, label in enumerate(images.labels)]

    def _name(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else f"class {index}"

    def start(self, step: int, *, write: bool = True) -> None:
        """The maps before training at `step` (written), or, resumed (`write=False`), only computed:
        the maps the next `gradcam_mass_moved` compares with."""
        self.mark_restart(step)
        if write:
            self.log(step)
        else:
            self.remember(self.compute())

    def mark_restart(self, step: int) -> None:
        """Tell TensorBoard to drop what a killed run logged at steps after `step`."""
        _restart_marker(self.writer, step + 1)

    def log(self, step: int, curves: bool | Callable[[float], bool] = True) -> ExplanationMaps:
        """Explain, write at `step`, remember the maps for the next `gradcam_mass_moved`."""
        return self.write(self.compute(curves), step)

    def compute(self, curves: bool | Callable[[float], bool] = True) -> PendingCall:
        """The maps and (when `curves` is True, or returns True given the seconds the maps took) the
        deletion/insertion curves of the images, nothing written yet."""
        clock = [time.perf_counter()]
        maps = self.probe(self.images.images, self.images.labels)
        size = self.images.images.shape[1:3]
        shown = {"gradcam": resize_maps(maps.gradcam, size), "saliency": maps.saliency}
        clock.append(time.perf_counter())
        scored = None
        if curves(clock[1] - clock[0]) if callable(curves) else curves:
            scored = self.scorer.curves(np.concatenate([self.images.images] * len(SCORED_METHODS)),
                                        np.concatenate([shown[m][:, 1] for m in SCORED_METHODS]),
                                        np.concatenate([maps.predicted] * len(SCORED_METHODS)), seed=self.seed)
        clock.append(time.perf_counter())
        return PendingCall(maps, shown, scored, clock)

    def remember(self, pending: PendingCall) -> None:
        """Use `pending`'s maps as the previous ones of the next `gradcam_mass_moved`, without writing them
        (its cost is recorded in `seconds`)."""
        self.previous = pending.maps.gradcam[:, 0]
        self.seconds.append(pending.clock[-1] - pending.clock[0])
        self.parts.append(dict(zip(("maps", "curves", "images"), [*np.diff(pending.clock).tolist(), 0.0],
                                   strict=True)))

    def write(self, pending: PendingCall, step: int) -> ExplanationMaps:
        """Write a computed call at `step`; its cost (computing and writing) goes to `seconds`."""
        maps, shown, curves, clock = pending.maps, pending.shown, pending.curves, list(pending.clock)
        written = time.perf_counter()    # not from clock[-1]: a deferred call may be made in between
        count = len(self.images)
        with self.writer.as_default(step=step):
            for m, method in enumerate(SCORED_METHODS if curves is not None else ()):
                part = slice(m * count, (m + 1) * count)
                tf.summary.scalar(DELETION_TAG + method, float(curves.deletion_auc[part].mean()))
                tf.summary.scalar(INSERTION_TAG + method, float(curves.insertion_auc[part].mean()))
            if self.previous is not None:
                tf.summary.scalar(MOVED_TAG, float(mass_moved(self.previous, maps.gradcam[:, 0]).mean()))
            self._write_images(maps, normalise_maps(shown["gradcam"]), normalise_maps(shown["saliency"]))
            clock.append(clock[-1] + time.perf_counter() - written)
            self.seconds.append(clock[-1] - clock[0])
            self.parts.append(dict(zip(("maps", "curves", "images"), np.diff(clock).tolist(), strict=True)))
            tf.summary.scalar(SECONDS_TAG, self.seconds[-1])
        self.writer.flush()
        self.previous = maps.gradcam[:, 0]
        return maps

    def _write_images(self, maps: ExplanationMaps, gradcam01: np.ndarray, saliency01: np.ndarray) -> None:
        probabilities = softmax(maps.logits)
        for i, tag in enumerate(self.tags):
            true, predicted = (int(c) for c in maps.classes[i])
            truth = f"{self._name(true)} p={probabilities[i, true]:.2f}"
            guess = f"{self._name(predicted)} p={probabilities[i, predicted]:.2f}"
            captions = ["input", f"Grad-CAM true: {truth}", f"Grad-CAM pred: {guess}",
                        f"saliency true: {truth}", f"saliency pred: {guess}"]
            strip = overlay_strip(self.images.images[i], gradcam01[i], saliency01[i], captions)
            image_summary(tag, strip, description=(
                f"Validation image {int(self.images.indices[i])} (true style: {self._name(true)}). "
                "Panels: " + " | ".join(PANELS) + ". Predicted = the class the network predicts at this step."))

    def close(self) -> None:
        self.writer.close()


class ExplainingObserver:
    """A training observer that forwards everything to `inner` (the run's TensorBoard logger) and,
    after the validation of the epochs `schedule` picks, logs the explanations.

    With a deferred schedule (`auto`) the call before training is not made at the start: the trained
    variables' starting values are kept (`variables`: the model's trainable variables, the only ones
    that change), and at the first call the schedule decides whether the maps of those values fit
    the budget; if so they are computed with the starting values put back for the call, and written
    at the start step before that call's maps.
    """

    def __init__(self, inner, explanations: ExplanationLogger, schedule: ExplainSchedule, *,
                 variables: Sequence[tf.Variable] = (), forward_seconds_per_image: float | None = None):
        self.inner, self.explanations, self.schedule = inner, explanations, schedule
        self.variables = list(variables)
        self._starting: list[np.ndarray] | None = None
        self._start_step = 0
        self._write_start = True
        self._forward_known = forward_seconds_per_image is not None
        if forward_seconds_per_image is not None:
            schedule.estimate_first_call(forward_seconds_per_image, len(explanations.images))
        self._mark = time.perf_counter()

    def start(self, step: int, *, write: bool = True) -> None:
        """The maps before fine-tuning (`ExplanationLogger.start`), counted in the schedule; deferred
        (the starting values kept) when the schedule says so."""
        if self.schedule.deferred and self.variables:
            self.explanations.mark_restart(step)
            self._starting = [np.array(v.numpy()) for v in self.variables]
            self._start_step, self._write_start = step, write
        else:
            if self.schedule.deferred:    # nothing to put back later (multi-worker): made now
                self.schedule.before = BEFORE_AT_START
            self.explanations.start(step, write=write)
            self.schedule.record_call(self.explanations.seconds[-1])
        self._mark = time.perf_counter()

    def train_step(self, step, **kwargs):
        self.inner.train_step(step, **kwargs)

    def speed(self, step, images_per_second):
        self.inner.speed(step, images_per_second)
        if not self._forward_known and images_per_second > 0:   # the first epoch: an upper bound of a forward
            self.schedule.estimate_first_call(1.0 / images_per_second, len(self.explanations.images))
            self._forward_known = True

    def validation_epoch(self, step, *, epoch: int, **kwargs):
        self.inner.validation_epoch(step, epoch=epoch, **kwargs)
        self.schedule.record_training(time.perf_counter() - self._mark)
        if self.schedule.due(epoch):
            curves = functools.partial(self.schedule.curves_fit, epoch)
            if self._starting is None:
                self.explanations.log(step, curves)
            else:    # computed first: its cost decides the deferred call, whose maps are written first
                pending = self.explanations.compute(curves)
                if self.schedule.before_due(epoch, pending.seconds):
                    self._explain_starting_weights(curves=pending.curves is not None)
                self._starting = None
                self.explanations.write(pending, step)
            self.schedule.record_call(self.explanations.seconds[-1])
            self.schedule.explained_epochs.append(epoch)
        self._mark = time.perf_counter()

    def _explain_starting_weights(self, *, curves: bool) -> None:
        """The deferred call (with curves when the call it rides on has them): the starting values put
        back for it, the trained ones restored after."""
        trained = [np.array(v.numpy()) for v in self.variables]
        try:
            for variable, value in zip(self.variables, self._starting, strict=True):
                variable.assign(value)
            before = self.explanations.compute(curves)
        finally:
            for variable, value in zip(self.variables, trained, strict=True):
                variable.assign(value)
        if self._write_start:
            self.explanations.write(before, self._start_step)
        else:
            self.explanations.remember(before)
        self.schedule.record_before(self.explanations.seconds[-1], written=self._write_start)
        self._starting = None
