"""Assignment 3b end to end: a folder of photos -> predictions, maps, figures, CSV, arrays.

`assignment_3b.py` only parses arguments and calls `explain_folder`. Methods come from the
`METHODS` registry (name -> Explainer class): input-attribution methods (`Saliency`
subclasses) are shown for the top-1 class, class-map methods (`CAM` subclasses) for each
of the top-k classes. A class-map method runs first with "top-k" placeholders so the ranking
comes from its own forward pass (no separate prediction pass); the other methods then get
the same classes explicitly.

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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from utilities.common.atomic import atomic_path, write_text_atomic
from utilities.common.figures import save_figure
from utilities.common.imagenet_classes import NUM_IMAGENET_CLASSES, class_names
from utilities.explain.base import Explainer, ExplainSetupError, normalise_maps, resize_maps, softmax
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
    num_classes = int(model.output.shape[-1])
    names = list(names) if names is not None else _default_names(num_classes)
    top_k = max(1, min(top_k, num_classes))
    try:
        explainers = build_explainers(model, methods, unit_rgb_preprocess(preprocess), layer, batch_size,
                                      method_options)
    except ValueError as exc:  # unknown layer, layer without spatial maps, ...
        raise ExplainSetupError(str(exc)) from None
    output_dir = Path(output_dir)
    stems = output_stems(images)
    rows, contents = [], []
    with tqdm(total=len(images), unit="img", desc="explaining", disable=not progress) as bar:
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
            results = _explain_batch(explainers, np.stack([im.network_input for im in loaded]), top_k)
            for i, image in enumerate(loaded):
                content, image_rows = _write_image_outputs(
                    image, stems[image.path], results, i, names, preprocess, output_dir,
                    save_arrays, echo, report)
                contents.append(content)
                rows += image_rows
                report.processed.append(image.path.name)
                bar.update(1)
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


@dataclass
class _BatchResults:
    logits: np.ndarray                    # (N, C)
    classes: np.ndarray                   # (N, k) ranked
    maps: dict[str, np.ndarray]           # method -> (N, k or 1, h, w) raw


def _explain_batch(explainers: dict[str, Explainer], batch: np.ndarray, top_k: int) -> _BatchResults:
    """Run every method on a batch; the first one's forward pass ranks the classes.

    Class-map methods come first and explain the top-k, so their ranking is used as is. When
    only input methods run (top-1 each), the top-k for the printed predictions come from the
    same logits; numpy's stable argsort and tf.math.top_k both put the lower index first on
    ties, so the top-1 is the class the method explained.
    """
    logits = classes = None
    maps = {}
    for method, explainer in explainers.items():
        wanted = top_k if is_class_map(method) else 1
        if classes is None:
            result = explainer.explain(batch, top_k=wanted)
            logits = result.logits
            classes = (result.classes if wanted == top_k
                       else np.argsort(-logits, axis=1, kind="stable")[:, :top_k].astype(np.int32))
        else:
            result = explainer.explain(batch, classes[:, :wanted])
        maps[method] = result.maps
    return _BatchResults(logits, classes, maps)


def _write_image_outputs(image: LoadedImage, stem: str, results: _BatchResults, i: int,
                         names: Sequence[str], preprocess: Callable, output_dir: Path,
                         save_arrays: bool, echo: Callable[[str], None], report: FolderReport):
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
    report.written.append(save_figure(explanation_figure(content), output_dir / f"{stem}.png"))
    if save_arrays:
        arrays = {"input": np.asarray(preprocess(image.network_input * 255.0), dtype=np.float32),
                  "logits": logits.astype(np.float32), "classes": classes.astype(np.int32)}
        for method, maps in results.maps.items():
            arrays[method] = maps[i] if is_class_map(method) else maps[i][0]
        report.written.append(_save_npz(output_dir / f"{stem}.npz", arrays))
    rows = [[image.path.name, rank + 1, p.index, p.name, f"{p.probability:.6f}",
             f"{float(logits[p.index]):.6f}"] for rank, p in enumerate(predictions)]
    return content, rows


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
