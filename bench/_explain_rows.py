"""The rows the 3b speed benches share (bench/explain_bench.py, bench/explain_squeezenet_bench.py).

Each row is a callable taking a batch of RGB 0..255 images (N, H, W, 3) and doing what one way of
explaining them costs; the benches time them round-robin (`best_of`) and print ratios.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from utilities.explain._graph import tap_model
from utilities.explain.engine import SharedPass
from utilities.explain.folder import explain_folder
from utilities.explain.gradcam import GradCAM
from utilities.explain.saliency import VanillaGradient

TOP_K = 3


def _batched(step: Callable, images: np.ndarray, batch_size: int) -> None:
    for i in range(0, len(images), batch_size):
        step(tf.constant(images[i:i + batch_size])).numpy()


class InputGradient:
    """The ceiling: forward + one backward pass to the input (top-1 logit), batched and traced."""

    def __init__(self, model, preprocess, batch_size):
        self.batch_size = batch_size

        @tf.function(reduce_retracing=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = tf.cast(model(preprocess(x), training=False), tf.float32)
                top1 = tf.reduce_sum(tf.reduce_max(logits, axis=1))
            return tape.gradient(top1, x)
        self.step = step

    def __call__(self, images):
        _batched(self.step, images, self.batch_size)


class TrainingStep:
    """Forward + backward to the weights (cross-entropy on the top-1 labels), no update."""

    def __init__(self, model, preprocess, batch_size):
        self.batch_size = batch_size

        @tf.function(reduce_retracing=True)
        def step(x):
            with tf.GradientTape() as tape:
                logits = tf.cast(model(preprocess(x), training=True), tf.float32)
                labels = tf.stop_gradient(tf.argmax(logits, axis=1))
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            grads = tape.gradient(loss, model.trainable_variables)
            return tf.add_n([tf.reduce_sum(g) for g in grads])
        self.step = step

    def __call__(self, images):
        _batched(self.step, images, self.batch_size)


class KerasIoRecipe:
    """The usual per-image code: predict, then one traced tape per (image, class) on a [conv, logits] model.

    Returns (classes (N,K), saliency (N,1,H,W), gradcam (N,K,h,w)).
    """

    def __init__(self, model, preprocess, layer):
        self.model, self.preprocess, self.tapped = model, preprocess, tap_model(model, layer)
        self.predict = tf.function(lambda x: model(preprocess(x), training=False))
        self.cam_one = tf.function(self._cam_one)
        self.saliency_one = tf.function(self._saliency_one)

    def _cam_one(self, x, c):
        with tf.GradientTape() as tape:
            activations, logits = self.tapped(self.preprocess(x), training=False)
            score = tf.cast(logits[0, c], tf.float32)
        grads = tf.cast(tape.gradient(score, activations), tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", tf.cast(activations, tf.float32), weights))[0]

    def _saliency_one(self, x, c):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.cast(self.model(self.preprocess(x), training=False)[0, c], tf.float32)
        return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1)[0]

    def __call__(self, images):
        classes, sal, cams = [], [], []
        for image in images:
            x = tf.constant(image[None])
            ranked = np.argsort(-self.predict(x).numpy()[0].astype(np.float32), kind="stable")[:TOP_K]
            classes.append(ranked)
            cams.append([self.cam_one(x, tf.constant(int(c))).numpy() for c in ranked])
            sal.append([self.saliency_one(x, tf.constant(int(ranked[0]))).numpy()])
        return np.array(classes), np.array(sal), np.array(cams)


class Separate:
    """`GradCAM.explain(top_k=3)`, then `VanillaGradient.explain` on the top-1: each its own forward pass."""

    def __init__(self, model, preprocess, layer, batch_size):
        self.cam = GradCAM(model, layer, preprocess=preprocess, batch_size=batch_size)
        self.saliency = VanillaGradient(model, preprocess=preprocess, batch_size=batch_size)

    def __call__(self, images):
        cam = self.cam.explain(images, top_k=TOP_K)
        sal = self.saliency.explain(images, cam.classes[:, :1])
        return cam.classes, sal.maps, cam.maps


class Shared:
    """The same maps from one shared pass (utilities/explain/engine.py)."""

    def __init__(self, model, preprocess, layer, batch_size):
        self.engine = SharedPass({"gradcam": GradCAM(model, layer, preprocess=preprocess),
                                  "saliency": VanillaGradient(model, preprocess=preprocess)},
                                 top_k=TOP_K, batch_size=batch_size)

    def __call__(self, images):
        result = self.engine.explain(images)
        return result.classes, result.maps["saliency"], result.maps["gradcam"]


class Folder:
    """`explain_folder` as assignment_3b.py runs it: read, explain, draw and write everything.

    The first call traces the shared pass (and builds the explainers); later calls with the same
    model get the traced pass back (`utilities.explain.engine.cached_pass`), as a second folder
    explained in the same process would: `best_of`'s warm-up is that first call, its timed calls
    are the steady cost, and `first - best` is the one-time part a single CLI run pays on top.
    """

    def __init__(self, model, spec, layer, folder, batch_size):
        self.model, self.spec, self.layer, self.folder, self.batch_size = model, spec, layer, folder, batch_size
        self.out = tempfile.mkdtemp(prefix="explain_bench_")

    def __call__(self, images=None):
        explain_folder(self.folder, self.model, preprocess=self.spec.preprocess, input_size=self.spec.input_size,
                       layer=self.layer, top_k=TOP_K, output_dir=self.out, batch_size=self.batch_size,
                       progress=False, echo=lambda line: None)


def bench_folder(paths: list[Path], copies: int) -> Path:
    """A folder holding each photo `copies` times, in its own format (JPEG stays JPEG: decoding costs
    what the user's photos cost): even copies the file itself, odd copies mirrored (as the arrays are
    built; a mirrored JPEG is written at quality 95)."""
    import shutil

    import cv2

    folder = Path(tempfile.mkdtemp(prefix="explain_bench_photos_"))
    for copy in range(copies):
        for path in paths:
            dest = folder / f"{copy}_{path.name}"
            if copy % 2 == 0:
                shutil.copyfile(path, dest)
            else:
                picture = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                cv2.imwrite(str(dest), picture[:, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


@dataclass
class Timings:
    """What `best_of` measured per row: the warm-up call, then (wall, process CPU) seconds per round."""

    outputs: dict
    first: dict
    rounds: dict[object, list[tuple[float, float]]]

    @property
    def best(self) -> dict:
        return {key: min(wall for wall, _ in values) for key, values in self.rounds.items()}

    def paired(self, key, baseline, clock: int = 0) -> tuple[float, float, float]:
        """(median, min, max) over the rounds of the baseline's seconds / the row's seconds in the same
        round: wall clock (0), or the process's CPU time on all threads (1), steadier when other
        processes take the cores (it cannot see work that overlaps, but nothing here waits on I/O)."""
        ratios = [b[clock] / a[clock] for a, b in zip(self.rounds[key], self.rounds[baseline], strict=True)]
        return statistics.median(ratios), min(ratios), max(ratios)


def best_of(runs: dict, images: np.ndarray, repeats: int) -> Timings:
    """Each row's warm-up call (tracing; for `Folder` also building the explainers), then `repeats`
    rounds, every row once per round, the order reversed every other round, so that load from other
    processes hits all rows alike; ratios are best paired per round (`Timings.paired`)."""
    outputs, first = {}, {}
    for key, run in runs.items():
        start = time.perf_counter()
        outputs[key] = run(images)
        first[key] = time.perf_counter() - start
    rounds: dict = {key: [] for key in runs}
    keys = list(runs)
    for number in range(repeats):
        for key in keys if number % 2 == 0 else keys[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            runs[key](images)
            rounds[key].append((time.perf_counter() - wall, time.process_time() - cpu))
    return Timings(outputs, first, rounds)


def ratio_cells(timings: Timings, key, baseline) -> str:
    """Table cells: median paired wall ratio (range) | median paired CPU-time ratio (range)."""
    wall, cpu = timings.paired(key, baseline, 0), timings.paired(key, baseline, 1)
    return f"{wall[0]:.2f} ({wall[1]:.2f}-{wall[2]:.2f}) | {cpu[0]:.2f} ({cpu[1]:.2f}-{cpu[2]:.2f})"


# --------------------------------------------------------------------------- where a folder's time goes

PARTS = {   # part -> (module, function): timed on every thread that calls them
    "read photos (reader thread)": ("utilities.explain.folder", "_load_batch"),
    "build the explainers (once)": ("utilities.explain.folder", "build_explainers"),
    "trace the shared pass (once)": ("utilities.explain.engine", "SharedPass._compiled_for"),
    "shared pass (network)": ("utilities.explain.engine", "SharedPass.explain"),
    "image figure: compose": ("utilities.explain.folder", "compose_explanation"),
    "image figure: PNG": ("utilities.explain.plotting", "Composition.save"),
    "page maps (5 PNGs)": ("utilities.explain.folder", "_page_maps"),
    "all of one image's outputs (worker)": ("utilities.explain.folder", "_write_image_outputs"),
    "wait for the workers at the end": ("utilities.explain.folder", "_BackgroundWriter.finish"),
    "summary.png": ("utilities.explain.folder", "save_summary"),
    "index.html": ("utilities.explain.folder", "write_page"),
}


def folder_parts(run: Folder) -> tuple[float, float, dict[str, tuple[int, float, float]]]:
    """One more (steady) call of `run` with every part of PARTS timed: (wall seconds, process CPU
    seconds, {part: (calls, wall seconds, CPU seconds of the calling thread)})."""
    import importlib
    import threading

    found: dict[str, list] = {part: [0, 0.0, 0.0] for part in PARTS}
    lock = threading.Lock()
    undo = []
    for part, (module_name, qualified) in PARTS.items():
        owner = importlib.import_module(module_name)
        *classes, name = qualified.split(".")
        for cls in classes:
            owner = getattr(owner, cls)
        original = getattr(owner, name)

        def timed(*args, _original=original, _part=part, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                with lock:
                    entry = found[_part]
                    entry[0] += 1
                    entry[1] += time.perf_counter() - wall
                    entry[2] += time.thread_time() - cpu
        setattr(owner, name, timed)
        undo.append((owner, name, original))
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)
    return wall, cpu, {part: tuple(v) for part, v in found.items()}


def print_folder_parts(run: Folder, images: int, ceiling_seconds: float) -> None:
    """The parts of one steady explain_folder call, per image, then of one call that traces the shared
    pass again (the kept pass dropped first): what a single CLI run pays once, beside the steady cost."""
    from utilities.explain.engine import forget_passes

    wall, cpu, parts = folder_parts(run)
    forget_passes()
    traced_wall, _, traced = folder_parts(run)
    print(f"\nwhere one steady assignment_3b call's time goes ({images} images, {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU on all threads; the ceiling's {ceiling_seconds:.2f} s), and a call that traces "
          f"the shared pass again ({traced_wall:.2f} s wall):")
    print("| part | calls | wall s | CPU s (its thread) | CPU ms per image | wall s, tracing again |")
    print("|---|---|---|---|---|---|")
    for part, (calls, part_wall, part_cpu) in parts.items():
        print(f"| {part} | {calls} | {part_wall:.2f} | {part_cpu:.2f} | {1000 * part_cpu / images:.1f} "
              f"| {traced[part][1]:.2f} |")
    cores = os.cpu_count() or 1
    outputs = sum(parts[p][2] for p in ("read photos (reader thread)", "all of one image's outputs (worker)",
                                        "summary.png", "index.html"))
    print(f"bound: the call used {cpu:.2f} s of CPU, of which {outputs:.2f} s reading the photos and writing "
          f"every output ({1000 * outputs / images:.1f} ms per image, {outputs / ceiling_seconds:.2f} x the "
          f"ceiling's whole wall time); on {cores} cores it cannot take less than {cpu / cores:.2f} s: at most "
          f"{ceiling_seconds / (cpu / cores):.2f} of the ceiling")


def print_one_time(images: int, timings: Timings, key, ceiling) -> None:
    """The steady per-image cost of assignment_3b and the one-time part of its first call."""
    steady, first, ceiling_seconds = timings.best[key], timings.first[key], timings.best[ceiling]
    once = max(0.0, first - steady)
    print(f"\nassignment_3b: steady {steady / images:.3f} s per image ({ceiling_seconds / steady:.2f} of the "
          f"ceiling, best of each; median paired ratio {timings.paired(key, ceiling)[0]:.2f}); first call "
          f"{first:.2f} s, of which {once:.2f} s once per process (tracing the shared pass and its first "
          f"run, building the explainers, first use of fonts and caches; the ceiling's own first call "
          f"{timings.first[ceiling]:.2f} s): a single run of these {images} images "
          f"{ceiling_seconds / (steady + once):.2f} of the ceiling")
