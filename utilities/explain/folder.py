"""Assignment 3b end to end: a folder of photos -> predictions, maps, figures, CSV, arrays.

`assignment_3b.py` only parses arguments and calls `explain_folder`. Methods come from the
`METHODS` registry (name -> Explainer class): input-attribution methods (`Saliency`
subclasses) are shown for the top-1 class, class-map methods (`CAM` subclasses) for each
of the top-k classes. All methods of a batch share one forward pass, which also ranks the
classes, and one backward pass to the input (`utilities/explain/engine.py`). Figures and files
are drawn and written on a worker thread while the next batch is computed.

Outputs in `output_dir`: `<stem>.png` per image, `summary.png`, `predictions.csv`,
`failed.csv` (only when some image failed) and, with `save_arrays`, `<stem>.npz` holding
`input` (the exact preprocessed model input), `logits`, `classes` (ranked), and per method
its raw maps: `saliency` (H, W) for the top-1 class, `gradcam` (k, h, w) at the layer's
resolution, before resizing and normalising.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from utilities.common.atomic import atomic_path, write_text_atomic
from utilities.common.figures import save_figure
from utilities.common.imagenet_classes import NUM_IMAGENET_CLASSES, class_names
from utilities.explain.base import ExplainSetupError, normalise_maps, resize_maps, softmax
from utilities.explain.engine import SharedExplanation, SharedPass
from utilities.explain.images import ImageReadError, LoadedImage, list_images, load_image, unit_rgb_preprocess
from utilities.explain.plotting import FigureContent, Prediction, explanation_figure, save_summary
from utilities.explain.registry import DEFAULT_METHODS, METHODS, build_explainers, is_class_map, parse_methods


@dataclass
class FolderReport:
    """What happened to a folder: processed images, failures with reasons, files written."""

    processed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.processed) and not self.failed


def output_stems(paths: Sequence[Path]) -> dict[Path, str]:
    """`<stem>` per image; images sharing a stem (a.jpg, a.png) get `a_jpg`, `a_png`."""
    counts = Counter(p.stem for p in paths)
    return {p: p.stem if counts[p.stem] == 1 else p.name.replace(".", "_") for p in paths}


def find_images(folder: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(images, other files) of a folder, or ([file], []) for one file; ExplainSetupError if none."""
    folder = Path(folder)
    if folder.is_file():
        return [folder], []
    try:
        images, others = list_images(folder)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ExplainSetupError(str(exc)) from None
    if not images:
        raise ExplainSetupError(f"no images (by extension) in folder {folder}")
    return images, others


@dataclass(frozen=True)
class FolderPlan:
    """A folder run checked before any model is built: the images, the ignored files, the methods."""

    images: list[Path]
    ignored: list[Path]
    methods: list[str]


def plan_folder(folder: str | os.PathLike, methods: str | Sequence[str] = DEFAULT_METHODS) -> FolderPlan:
    """Parse `methods` and find the images of `folder`; ExplainSetupError names what is wrong."""
    methods = parse_methods(methods)
    images, others = find_images(folder)
    return FolderPlan(images, others, methods)


def prepare_output_dir(output_dir: str | os.PathLike) -> Path:
    """Create `output_dir` (and parents) before any work; ExplainSetupError when it cannot hold files."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ExplainSetupError(f"--output-dir {output_dir} is a file, not a folder; choose another path")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExplainSetupError(f"cannot create --output-dir {output_dir}: {exc.strerror or exc}") from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise ExplainSetupError(f"--output-dir {output_dir} is not writable; choose another folder")
    return output_dir


def explain_folder(folder: str | os.PathLike | FolderPlan, model: keras.Model, *, preprocess: Callable,
                   input_size: int, layer: str | None = None, methods: Sequence[str] = DEFAULT_METHODS,
                   top_k: int = 3, output_dir: str | os.PathLike = "results", save_arrays: bool = False,
                   batch_size: int = 8, names: Sequence[str] | None = None, progress: bool = True,
                   method_options: dict | None = None,
                   echo: Callable[[str], None] = tqdm.write) -> FolderReport:
    """Explain every image of `folder` (or one image file, or a `plan_folder` plan) and write the outputs.

    `preprocess` maps RGB float 0..255 to the model input (ModelSpec.preprocess). Unreadable
    images are reported (one line each) and skipped; everything else is still processed.
    """
    plan = folder if isinstance(folder, FolderPlan) else plan_folder(folder, methods)
    images, methods = plan.images, plan.methods
    report = FolderReport(ignored=[p.name for p in plan.ignored])  # e.g. LICENSES.md: not images
    num_classes = int(model.outputs[0].shape[-1])
    if not 1 <= top_k <= num_classes:
        raise ExplainSetupError(f"--top-k {top_k} must be between 1 and the model's {num_classes} classes")
    names = list(names) if names is not None else _default_names(num_classes)
    output_dir = prepare_output_dir(output_dir)
    try:
        explainers = build_explainers(model, methods, unit_rgb_preprocess(preprocess), layer, batch_size,
                                      method_options)
    except ValueError as exc:  # unknown layer, layer without spatial maps, ...
        raise ExplainSetupError(str(exc)) from None
    engine = SharedPass(explainers, top_k, batch_size)
    stems = output_stems(images)
    with tqdm(total=len(images), unit="img", desc="explaining", disable=not progress) as bar, \
            _BackgroundWriter(limit=2 * batch_size) as writer:
        for start in range(0, len(images), batch_size):
            loaded = []
            for path in images[start:start + batch_size]:
                try:
                    loaded.append(load_image(path, input_size))
                except ImageReadError as exc:
                    report.failed[path.name] = str(exc)
                    echo(f"FAILED {path.name}: {exc}")
                    bar.update(1)
            if not loaded:
                continue
            results = engine.explain(np.stack([im.network_input for im in loaded]))
            for i, image in enumerate(loaded):
                writer.submit(_write_image_outputs, image, stems[image.path], results, i, names, preprocess,
                              output_dir, save_arrays, echo)
                report.processed.append(image.path.name)
                bar.update(1)
        outputs = writer.finish()
    contents = [content for content, _, _ in outputs]
    rows = [row for _, image_rows, _ in outputs for row in image_rows]
    report.written += [path for _, _, written in outputs for path in written]
    if contents:
        report.written += save_summary(contents, output_dir)
        report.written.append(_write_csv(output_dir / "predictions.csv",
                                         ["image", "rank", "class_index", "class_name", "probability",
                                          "logit"], rows))
    if report.failed:
        report.written.append(_write_csv(output_dir / "failed.csv", ["image", "reason"],
                                         sorted(report.failed.items())))
    return report


def _default_names(num_classes: int) -> list[str]:
    if num_classes == NUM_IMAGENET_CLASSES:
        return class_names(num_classes)
    from utilities.wikiart.styles import class_names as style_names
    return style_names(num_classes)


class _BackgroundWriter:
    """Runs each image's drawing and writing on one worker thread, in order, at most `limit` queued.

    Drawing overlaps the next batch's computation (TensorFlow releases the GIL); the bound keeps
    memory flat on big folders. An exception in the worker surfaces in the caller.
    """

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="3b-figures")
        self.pending: deque[Future] = deque()
        self.done: list = []

    def submit(self, fn: Callable, *args) -> None:
        self.pending.append(self.pool.submit(fn, *args))
        while len(self.pending) > self.limit:
            self.done.append(self.pending.popleft().result())

    def finish(self) -> list:
        """Every result, in submission order, once all are written."""
        while self.pending:
            self.done.append(self.pending.popleft().result())
        return self.done

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.pool.shutdown(wait=True, cancel_futures=kind is not None)


def _write_image_outputs(image: LoadedImage, stem: str, results: SharedExplanation, i: int,
                         names: Sequence[str], preprocess: Callable, output_dir: Path,
                         save_arrays: bool, echo: Callable[[str], None]):
    """Print the predictions, write the figure (and arrays); (figure content, CSV rows, paths)."""
    logits, classes = results.logits[i], results.classes[i]
    probabilities = softmax(logits)
    predictions = [Prediction(int(c), names[c], float(probabilities[c])) for c in classes]
    echo(f"{image.path.name}: " + "; ".join(f"{p.index} {p.name} {p.probability:.3f}"
                                              for p in predictions))
    size = image.network_input.shape[:2]
    content = FigureContent(title=image.path.name, network_input=image.network_input,
                            original=image.original, crop_box=image.crop_box, predictions=predictions)
    for method, maps in results.maps.items():
        shown = normalise_maps(resize_maps(maps[i], size))
        title = METHODS[method].title
        if is_class_map(method):
            content.class_maps[title] = shown
        else:
            content.input_maps[title] = shown[0]
    written = [save_figure(explanation_figure(content), output_dir / f"{stem}.png")]
    if save_arrays:
        arrays = {"input": np.asarray(preprocess(image.network_input * 255.0), dtype=np.float32),
                  "logits": logits.astype(np.float32), "classes": classes.astype(np.int32)}
        for method, maps in results.maps.items():
            arrays[method] = maps[i] if is_class_map(method) else maps[i][0]
        written.append(_save_npz(output_dir / f"{stem}.npz", arrays))
    rows = [[image.path.name, rank + 1, p.index, p.name, f"{p.probability:.6f}",
             f"{float(logits[p.index]):.6f}"] for rank, p in enumerate(predictions)]
    return content, rows, written


def _save_npz(dest: Path, arrays: dict[str, np.ndarray]) -> Path:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return dest


def _write_csv(dest: Path, header: list[str], rows: list) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return write_text_atomic(dest, buffer.getvalue())
