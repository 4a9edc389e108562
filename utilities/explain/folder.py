"""Assignment 3b end to end: a folder of photos -> predictions, maps, figures, CSV, arrays.

`assignment_3b.py` only parses arguments and calls `explain_folder`. Methods come from the
`METHODS` registry (name -> Explainer class): input-attribution methods (`Saliency`
subclasses) are shown for the top-1 class, class-map methods (`CAM` subclasses) for each
of the top-k classes. All methods of a batch share one forward pass, which also ranks the
classes, and one backward pass to the input (`utilities/explain/engine.py`), traced once per
process for the same model and settings. The next batch's photos are read, and the figures and
files drawn and written (two worker threads, `plotting.compose_explanation`: panels composed in
pixels, no matplotlib axes), while the network explains a batch.

Outputs in `output_dir`: `<stem>.png` per image, `summary.png`, `predictions.csv`,
`failed.csv` (only when some image failed) and, with `save_arrays`, `<stem>.npz` holding
`input` (the exact preprocessed model input), `logits`, `classes` (ranked), and per method
its raw maps: `saliency` (H, W) for the top-1 class, `gradcam` (k, h, w) at the layer's
resolution, before resizing and normalising. `index.html` (utilities/explain/html_page.py)
shows it all in a browser, from `maps/<stem>/input.png` and one coloured map per method and
class, `maps/<stem>/<method>_<rank>.png`.

Maps are shown each scaled to its own maximum, or with `shared_scale` on one absolute scale:
"method" divides every map of a method (all images, all classes) by the method's largest
raw value, "all" every map of every method by the largest of all. Scales are known once every
image is explained, so the images are then drawn in a second pass (read again from disk:
only the raw maps are kept in memory, not the photos).
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from utilities.common.atomic import atomic_path, write_text_atomic
from utilities.common.figures import save_rgb_png
from utilities.common.imagenet_classes import NUM_IMAGENET_CLASSES, class_names
from utilities.explain.base import ExplainSetupError, normalise_maps, resize_maps, softmax
from utilities.explain.engine import SharedExplanation, SharedPass, cached_pass
from utilities.explain.html_page import PageCard, PageContent, PageMethod, PagePrediction, write_page
from utilities.explain.images import (
    ImageReadError,
    LoadedImage,
    display_name,
    list_images,
    load_image,
    unit_rgb_preprocess,
)
from utilities.explain.plotting import (
    FigureContent,
    Prediction,
    colorize_u8,
    colormap_for,
    compose_explanation,
    save_summary,
)
from utilities.explain.registry import DEFAULT_METHODS, METHODS, build_explainers, is_class_map, parse_methods

SHARED_SCALES = ("method", "all")
MAPS_DIR = "maps"


@dataclass
class ImageResult:
    """One image's share of a `SharedExplanation` (numpy)."""

    logits: np.ndarray                 # (num_classes,)
    classes: np.ndarray                # (top_k,) ranked
    maps: dict[str, np.ndarray]        # method -> (k or 1, h, w) raw


def split_results(results: SharedExplanation) -> list[ImageResult]:
    return [ImageResult(results.logits[i], results.classes[i], {m: v[i] for m, v in results.maps.items()})
            for i in range(len(results.logits))]


def shared_scales(results: Iterable[ImageResult], mode: str) -> dict[str, float]:
    """The raw value each method's top colour stands for: its largest value over every image and
    class ("method"), or the largest of all methods for every method ("all")."""
    if mode not in SHARED_SCALES:
        raise ExplainSetupError(f"--shared-scale must be one of {', '.join(SHARED_SCALES)}, got {mode!r}")
    peaks: dict[str, float] = {}
    for result in results:
        for method, maps in result.maps.items():
            peaks[method] = max(peaks.get(method, 0.0), float(np.max(maps)) if maps.size else 0.0)
    peaks = {m: max(v, 1e-12) for m, v in peaks.items()}  # all-zero maps stay zero, never NaN
    if mode == "all" and peaks:
        top = max(peaks.values())
        peaks = dict.fromkeys(peaks, top)
    return peaks


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
    """`<stem>` per image; images sharing a stem (a.jpg, a.png) get `a_jpg`, `a_png`.

    Stems are UTF-8 text (a name that is not gets replacement characters: `display_name`), so
    the page can link to them; two names that become the same text get `_2`, `_3`, ...
    """
    counts = Counter(display_name(p.stem) for p in paths)
    stems = {p: display_name(p.stem) if counts[display_name(p.stem)] == 1
             else display_name(p.name).replace(".", "_") for p in paths}
    seen: Counter = Counter()
    for p in paths:
        seen[stems[p]] += 1
        if seen[stems[p]] > 1:
            stem = stems[p]
            while f"{stem}_{seen[stem]}" in stems.values():
                seen[stem] += 1
            stems[p] = f"{stem}_{seen[stem]}"
    return stems


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
                   method_options: dict | None = None, shared_scale: str | None = None, page: bool = True,
                   echo: Callable[[str], None] = tqdm.write) -> FolderReport:
    """Explain every image of `folder` (or one image file, or a `plan_folder` plan) and write the outputs.

    `preprocess` maps RGB float 0..255 to the model input (ModelSpec.preprocess). Unreadable
    images are reported (one line each) and skipped; everything else is still processed.
    `shared_scale`: None (each map to its own maximum), "method" or "all" (see the module's doc);
    `page`: also write index.html and the maps it shows.
    """
    if shared_scale is not None and shared_scale not in SHARED_SCALES:
        raise ExplainSetupError(f"--shared-scale must be one of {', '.join(SHARED_SCALES)}, got {shared_scale!r}")
    plan = folder if isinstance(folder, FolderPlan) else plan_folder(folder, methods)
    images, methods = plan.images, plan.methods
    report = FolderReport(ignored=[display_name(p.name) for p in plan.ignored])  # e.g. LICENSES.md: not images
    num_classes = int(model.outputs[0].shape[-1])
    if not 1 <= top_k <= num_classes:
        raise ExplainSetupError(f"--top-k {top_k} must be between 1 and the model's {num_classes} classes")
    names = list(names) if names is not None else _default_names(num_classes)
    output_dir = prepare_output_dir(output_dir)
    engine = _shared_pass(model, preprocess, layer, methods, top_k, batch_size, method_options)
    stems = output_stems(images)
    outputs = _Outputs(names, preprocess, output_dir, save_arrays, page)
    deferred: list[tuple[Path, ImageResult]] = []   # shared scale: drawn once every map is known
    batches = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    with tqdm(total=len(images), unit="img", desc="explaining", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="3b-read") as reader, \
            _BackgroundWriter(limit=2 * batch_size) as writer:
        upcoming = reader.submit(_load_batch, batches[0], input_size) if batches else None
        for number in range(len(batches)):
            loaded, failed = upcoming.result()
            if number + 1 < len(batches):   # read the next photos while the network explains these
                upcoming = reader.submit(_load_batch, batches[number + 1], input_size)
            for name, reason in failed:
                report.failed[name] = reason
                echo(f"FAILED {name}: {reason}")
                bar.update(1)
            if not loaded:
                continue
            results = engine.explain(np.stack([im.network_input for im in loaded]))
            for image, result in zip(loaded, split_results(results), strict=True):
                echo(f"{display_name(image.path.name)}: " + "; ".join(
                    f"{p.index} {p.name} {p.probability:.3f}" for p in _predictions(result, names)))
                if shared_scale:
                    deferred.append((image.path, result))
                else:
                    writer.submit(_write_image_outputs, image, stems[image.path], result, outputs)
                report.processed.append(display_name(image.path.name))
                bar.update(1)
        if deferred:
            outputs.scales = shared_scales((result for _, result in deferred), shared_scale)
            for path, result in deferred:
                writer.submit(_reload_and_write, path, input_size, stems[path], result, outputs)
        done = [d for d in writer.finish() if d is not None]
    for name, reason in outputs.lost.items():
        report.processed.remove(name)
        report.failed[name] = reason
        echo(f"FAILED {name}: {reason}")
    contents = [content for content, _, _, _ in done]
    rows = [row for _, image_rows, _, _ in done for row in image_rows]
    report.written += [path for _, _, written, _ in done for path in written]
    if contents:
        report.written += save_summary(contents, output_dir)
        report.written.append(_write_csv(output_dir / "predictions.csv",
                                         ["image", "rank", "class_index", "class_name", "probability",
                                          "logit"], rows))
    if report.failed:
        report.written.append(_write_csv(output_dir / "failed.csv", ["image", "reason"],
                                         sorted(report.failed.items())))
    if page and (done or report.failed):
        page_methods = [PageMethod(m, METHODS[m].title, is_class_map(m), colormap_for(is_class_map(m)),
                                   outputs.scales.get(m)) for m in methods]
        notes = [f"Model outputs: {num_classes} classes; top-{top_k} explained. Files: summary.png, "
                 "predictions.csv" + (", failed.csv" if report.failed else "") + "."]
        report.written.append(write_page(output_dir, PageContent(
            title=f"Explanations: {', '.join(METHODS[m].title for m in methods)}",
            cards=[card for _, _, _, card in done], methods=page_methods, failed=dict(report.failed),
            scale_mode=shared_scale, notes=notes)))
    return report


def _shared_pass(model: keras.Model, preprocess: Callable, layer: str | None, methods: Sequence[str], top_k: int,
                 batch_size: int, method_options: dict | None) -> SharedPass:
    """The explainers' shared pass, traced once per process for the same model and settings
    (`engine.cached_pass`): a second folder explained with the same model does not trace again."""
    def build() -> SharedPass:
        try:
            explainers = build_explainers(model, methods, unit_rgb_preprocess(preprocess), layer, batch_size,
                                          method_options)
        except ValueError as exc:  # unknown layer, layer without spatial maps, ...
            raise ExplainSetupError(str(exc)) from None
        return SharedPass(explainers, top_k, batch_size)

    key = (tuple(methods), layer, top_k, batch_size, preprocess, repr(_frozen(method_options)))
    return cached_pass(model, key, build)


def _frozen(value):
    """Method settings in a canonical order (dicts sorted by key), for the pass's cache key."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    return value


def _default_names(num_classes: int) -> list[str]:
    if num_classes == NUM_IMAGENET_CLASSES:
        return class_names(num_classes)
    from utilities.wikiart.styles import class_names as style_names
    return style_names(num_classes)


def _load_batch(paths: Sequence[Path], input_size: int) -> tuple[list[LoadedImage], list[tuple[str, str]]]:
    """(the photos that could be read, (name, reason) of those that could not)."""
    loaded, failed = [], []
    for path in paths:
        try:
            loaded.append(load_image(path, input_size))
        except ImageReadError as exc:
            failed.append((display_name(path.name), str(exc)))
    return loaded, failed


FIGURE_WORKERS = 2
"""Threads drawing and writing the images' outputs. OpenCV and numpy release the GIL while they
resample, colour and encode, so the figures of a batch are drawn side by side on 2 cores once
the network is done (the last batch's figures are on the run's critical path)."""


class _BackgroundWriter:
    """Runs each image's drawing and writing on worker threads, at most `limit` queued; results
    come back in submission order.

    Drawing overlaps the next batch's computation (TensorFlow releases the GIL); the bound keeps
    memory flat on big folders. An exception in a worker surfaces in the caller.
    """

    def __init__(self, limit: int, workers: int = FIGURE_WORKERS):
        self.limit = max(1, limit)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="3b-figures")
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


@dataclass
class _Outputs:
    """What every image's writing needs (shared by the worker thread's calls)."""

    names: Sequence[str]
    preprocess: Callable
    output_dir: Path
    save_arrays: bool
    page: bool
    scales: dict[str, float] = field(default_factory=dict)   # method -> raw value shown as 1 (shared scale)
    lost: dict[str, str] = field(default_factory=dict)       # read in pass 1, unreadable in pass 2


def _shown(maps: np.ndarray, size: tuple[int, int], scale: float | None) -> np.ndarray:
    """Maps resized to the network input, in [0, 1]: by their own maximum or by a shared scale."""
    resized = resize_maps(maps, size)
    return normalise_maps(resized) if scale is None else np.clip(resized / scale, 0.0, 1.0)


def _reload_and_write(path: Path, input_size: int, stem: str, result: ImageResult, outputs: _Outputs):
    """The second pass of a shared scale: the photo again (same loader, same result), then its outputs.
    None when the file became unreadable in between (the reason goes to `outputs.lost`)."""
    try:
        image = load_image(path, input_size)
    except ImageReadError as exc:
        outputs.lost[display_name(path.name)] = f"changed while the folder was explained: {exc}"
        return None
    return _write_image_outputs(image, stem, result, outputs)


def _predictions(result: ImageResult, names: Sequence[str]) -> list[Prediction]:
    """The ranked classes with their names and softmax probabilities."""
    probabilities = softmax(result.logits)
    return [Prediction(int(c), names[c], float(probabilities[c])) for c in result.classes]


def _write_image_outputs(image: LoadedImage, stem: str, result: ImageResult, outputs: _Outputs):
    """Write the figure (and arrays, and the page's maps); (figure content, CSV rows, paths, page card).
    Runs on a worker thread (the predictions are printed by the caller, in order)."""
    logits, classes = result.logits, result.classes
    predictions = _predictions(result, outputs.names)
    size = image.network_input.shape[:2]
    content = FigureContent(title=display_name(image.path.name), network_input=image.network_input,
                            original=image.original, crop_box=image.crop_box, predictions=predictions)
    shown = {}
    for method, maps in result.maps.items():
        shown[method] = _shown(maps, size, outputs.scales.get(method))
        title = METHODS[method].title
        if method in outputs.scales:
            content.scales[title] = outputs.scales[method]
        if is_class_map(method):
            content.class_maps[title] = shown[method]
        else:
            content.input_maps[title] = shown[method][0]
    output_dir = outputs.output_dir
    written = [compose_explanation(content).save(output_dir / f"{stem}.png")]
    arrays_name = None
    if outputs.save_arrays:
        arrays = {"input": np.asarray(outputs.preprocess(image.network_input * 255.0), dtype=np.float32),
                  "logits": logits.astype(np.float32), "classes": classes.astype(np.int32)}
        for method, maps in result.maps.items():
            arrays[method] = maps if is_class_map(method) else maps[0]
        written.append(_save_npz(output_dir / f"{stem}.npz", arrays))
        arrays_name = f"{stem}.npz"
    card = None
    if outputs.page:
        card, pngs = _page_maps(image, stem, shown, predictions, output_dir)
        card.figure, card.arrays = f"{stem}.png", arrays_name
        written += pngs
    rows = [[display_name(image.path.name), rank + 1, p.index, p.name, f"{p.probability:.6f}",
             f"{float(logits[p.index]):.6f}"] for rank, p in enumerate(predictions)]
    return content, rows, written, card


def _page_maps(image: LoadedImage, stem: str, shown: dict[str, np.ndarray], predictions: Sequence[Prediction],
               output_dir: Path) -> tuple[PageCard, list[Path]]:
    """`maps/<stem>/input.png` and one coloured PNG per method and class for index.html."""
    folder = f"{MAPS_DIR}/{stem}"
    written = [_save_png(output_dir / folder / "input.png", image.network_input)]
    maps = {}
    for method, method_maps in shown.items():
        cmap = colormap_for(is_class_map(method))
        maps[method] = []
        for rank, map01 in enumerate(method_maps, start=1):
            name = f"{folder}/{method}_{rank}.png"
            written.append(save_rgb_png(output_dir / name, colorize_u8(map01, cmap)))
            maps[method].append(name)
    card = PageCard(display_name(image.path.name), f"{folder}/input.png",
                    [PagePrediction(p.index, p.name, p.probability) for p in predictions], maps)
    return card, written


def _save_png(dest: Path, rgb01: np.ndarray) -> Path:
    """An RGB [0, 1] image as an 8-bit PNG, atomically (fast zlib level, as the figures)."""
    return save_rgb_png(dest, np.round(np.clip(rgb01, 0.0, 1.0) * 255).astype(np.uint8))


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
