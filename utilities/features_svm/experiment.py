"""One run: lists -> features per layer (cached) -> reduction -> classifier per C -> reports under the output folder.

The network is built only when some features are not in the cache (a second run with other C
values, reductions or another classifier never builds it), under the requested precision and seed.
`--model pixels` reads no network: the descriptor is the image itself, resized, scaled to [0, 1],
flattened and L2-normalised (the baseline every network must beat).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

import models
from models.pretrained import imagenet_weights, torchvision_imagenet_weights
from utilities.common.atomic import write_text_atomic
from utilities.common.image_limits import check_side
from utilities.common.output_paths import OutputPathError, check_output_dir
from utilities.features_svm import classifiers, report, scene15, sources
from utilities.features_svm import reduce as reductions
from utilities.features_svm.cache import FeatureCache, cache_key, file_identity, list_identity
from utilities.features_svm.checks import check_paths, is_model_file
from utilities.features_svm.errors import FeaturesSvmError
from utilities.features_svm.extract import POOLINGS, FeatureExtractor, Features, pixel_model, pixel_preprocess
from utilities.features_svm.layers import check_size, resolve_tap, tap_model

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "results" / "features_svm"
PRECISIONS = ("float32", "mixed_bfloat16")
DEFAULT_LAYER = "relu7"
PIXELS = "pixels"                 # --model pixels: no network, the image itself
MODELS = (*models.ALL_MODEL_NAMES, PIXELS)   # the project's four, keras.applications' six, pixels
PIXELS_SIZE = 32                  # --model pixels' default side (Torralba et al.'s 32x32 "tiny images")
# Per network, the descriptor read when --layer / --pooling are not given: relu7 (VGG16's and
# VGG19's fc2, AlexNet's fc7) flattened, the handout's. SqueezeNet has no FC layers: the analogue of
# relu7 (the last hidden representation, below the classifier) is the last fire module's output,
# 13x13x512 at 227, averaged over space (512 values; flattening would give 86,528).
# A keras.applications network (resnet50, mobilenet_v2, ...) has no hidden FC layer either: its
# default is its class-map layer (the last feature maps before the global pooling, spec.gradcam_layer:
# mobilenet_v2's out_relu, resnet50's conv5_block3_out, ...) averaged over space, like SqueezeNet's.
DEFAULT_LAYERS = {"squeezenet": "fire9_concat", PIXELS: PIXELS,
                  **{name: models.get_spec(name, "random").gradcam_layer for name in models.KERAS_APPLICATION_NAMES}}
DEFAULT_POOLING = {"squeezenet": "avg", **dict.fromkeys(models.KERAS_APPLICATION_NAMES, "avg")}
DATASETS = sources.DATASETS


@dataclass
class Config:
    """Everything a run depends on (the CLI flags, one to one)."""

    dataset: str = "15scene"
    train_list: Path | None = None
    test_list: Path | None = None
    data_dir: Path | None = None          # None: utilities/data/15scene, utilities/data/<fashion_mnist|mnist5k>
    url: str = scene15.URL
    train_per_class: int = scene15.TRAIN_PER_CLASS
    test_per_class: int | None = None     # None: every test image
    model: str = "vgg16"                  # a name of MODELS, or the path of a .keras model
    weights: str = "imagenet"
    preprocess: str | None = None         # a .keras model's input preprocessing, when it cannot tell
    layers: Sequence[str] | None = None   # None: the model's default (relu7; squeezenet fire9_concat)
    pooling: str | None = None            # None: flatten (the handout); squeezenet avg
    image_size: int | None = None
    reduce: Sequence[reductions.Reduction | str] = ("none",)
    C: Sequence[float] = (1.0,)
    grid: bool = False
    cv_folds: int = 5
    classifier: str = "linear-svm"
    epochs: int = 100
    learning_rate: float = 0.03
    batch_size: int = 32
    precision: str = "float32"
    seed: int = 0
    output_dir: Path = DEFAULT_OUTPUT_DIR
    cache_dir: Path | None = None
    cache: bool = True
    summary: bool = False
    activation_maps: Path | None = None
    progress: bool = True


@dataclass
class RunResult:
    rows: list[report.SweepRow]
    results: list[report.LayerResult]
    report: str
    network_builds: int
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under `name` ("float32" or "mixed_bfloat16"), then restore the global policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def with_model_defaults(c: Config) -> Config:
    """`c` with --layer and --pooling, when not given, set to the model's defaults (a .keras model's
    default layer is known once it is opened: `open_model_file`)."""
    if is_model_file(c.model):
        return dataclasses.replace(c, pooling=c.pooling or "avg")
    return dataclasses.replace(c, layers=c.layers if c.layers is not None else (DEFAULT_LAYERS.get(c.model,
                                                                                                   DEFAULT_LAYER),),
                               pooling=c.pooling or DEFAULT_POOLING.get(c.model, "flatten"))


def reduction_list(c: Config) -> list[reductions.Reduction]:
    """--reduce's values as Reductions (strings parsed), duplicates dropped, order kept."""
    out = []
    for value in c.reduce:
        try:
            value = value if isinstance(value, reductions.Reduction) else reductions.parse_reduction(str(value))
        except argparse.ArgumentTypeError as exc:
            raise FeaturesSvmError(f"--reduce {exc}") from None
        out.append(value)
    return list(dict.fromkeys(out))


def build_options(model: str) -> dict:
    """`input_size=None` for a network whose builder can make it for any input size (SqueezeNet)."""
    return {"input_size": None} if "input_size" in inspect.signature(models.get_spec(model).builder).parameters else {}


def check_config(c: Config) -> None:
    """Cheap checks before any data or network is touched."""
    c = with_model_defaults(c) if c.model in MODELS or is_model_file(c.model) else c
    problems = [
        (c.classifier in classifiers.CLASSIFIERS, f"--classifier must be one of {', '.join(classifiers.CLASSIFIERS)}"),
        (c.pooling in POOLINGS, f"--pooling must be one of {', '.join(POOLINGS)}"),
        (c.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
        (c.model in MODELS or is_model_file(c.model),
         f"--model must be one of {', '.join(MODELS)}, or the path of a .keras model"),
        (c.dataset in DATASETS or c.train_list is not None, f"--dataset must be one of {', '.join(DATASETS)}"),
        (c.layers is None or len(c.layers) > 0, "--layer needs at least one layer"),
        (len(c.reduce) > 0, "--reduce needs at least one value (none, pca:N, pca-whiten:N, random:N)"),
        (c.train_per_class >= 1, f"--train-per-class must be at least 1, got {c.train_per_class}"),
        (c.test_per_class is None or c.test_per_class >= 1,
         f"--test-per-class must be at least 1, got {c.test_per_class}"),
        (len(c.C) > 0 and all(v > 0 for v in c.C), f"--C values must be positive, got {list(c.C)}"),
        (c.batch_size >= 1, f"--batch-size must be at least 1, got {c.batch_size}"),
        (c.epochs >= 1, f"--epochs must be at least 1, got {c.epochs}"),
        (c.cv_folds >= 2, f"--cv-folds must be at least 2, got {c.cv_folds}"),
    ]
    for ok, message in problems:
        if not ok:
            raise FeaturesSvmError(message)
    if c.image_size is not None:
        try:
            check_side(c.image_size, "--image-size", min_side=8)
        except ValueError as exc:
            raise FeaturesSvmError(str(exc)) from None
    reduction_list(c)
    if c.model == PIXELS:
        check_pixels(c)
    check_paths(train_list=c.train_list, test_list=c.test_list, weights=c.weights, activation_maps=c.activation_maps,
                model=c.model, preprocess=c.preprocess)
    check_outputs(c)


def check_pixels(c: Config) -> None:
    """--model pixels has no network: no weights, layers, summary or activation maps."""
    if c.weights != "imagenet":
        raise FeaturesSvmError(f"--weights {c.weights}: --model pixels reads no network; drop --weights")
    if any(str(layer) != PIXELS for layer in c.layers or ()):
        raise FeaturesSvmError(f"--layer {','.join(map(str, c.layers))}: --model pixels has one descriptor, "
                               f"{PIXELS!r}")
    if c.summary or c.activation_maps is not None:
        raise FeaturesSvmError("--summary and --activation-maps need a network; --model pixels has none")
    if c.precision != "float32":
        raise FeaturesSvmError("--precision: --model pixels runs no network; drop it")


def check_min_size(model: str, image_size: int) -> None:
    """A keras.applications network built for any size still has a smallest input (Keras' own bound)."""
    if model in models.KERAS_APPLICATION_NAMES:
        from models.keras_application_table import get_application

        smallest = get_application(model).min_size
        if image_size < smallest:
            raise FeaturesSvmError(f"--image-size {image_size}: {model} needs at least {smallest} px; "
                                   f"use --image-size {smallest} or more")


def check_outputs(c: Config) -> None:
    """--output-dir (and --cache-dir) writable folders with some free space, before any work."""
    try:
        check_output_dir(c.output_dir, "--output-dir")
        if c.cache and c.cache_dir is not None:
            check_output_dir(c.cache_dir, "--cache-dir")
    except OutputPathError as exc:
        raise FeaturesSvmError(str(exc)) from None


def sweep_values(c: Config) -> list[float]:
    """The C values a run compares (--grid's when one C is given)."""
    return list(dict.fromkeys(float(v) for v in (classifiers.GRID if c.grid and len(c.C) == 1 else c.C)))


def check_folds_before_extraction(c: Config, lists: sources.LabelledLists) -> None:
    """--cv-folds against the training list's smallest class, and --reduce's N against the training
    rows PCA will be fitted on (a cross-validation fold's when several C), before minutes of feature
    extraction."""
    samples = len(lists.train)
    if len(sweep_values(c)) > 1:
        try:
            classifiers.check_folds(c.cv_folds, lists.train.labels)
        except ValueError as exc:
            raise FeaturesSvmError(f"{exc} (in {lists.train.list_file}); lower --cv-folds or give one --C") from None
        samples = classifiers.smallest_fold(c.cv_folds, lists.train.labels, c.seed)
    check_reductions(c, samples=samples)


def check_reductions(c: Config, *, samples: int, dim: int | None = None) -> None:
    for reduction in reduction_list(c):
        message = reductions.problem(reduction, samples=samples, dim=dim)
        if message:
            raise FeaturesSvmError(message)


def weight_source(c: Config) -> tuple[str, dict]:
    """(what build_model gets, the identity that goes into the cache key)."""
    if c.model == PIXELS:
        return PIXELS, {"weights": None}
    if is_model_file(c.model):
        return str(c.model), file_identity(c.model)
    if c.weights == "random":
        return "random", {"random_seed": c.seed}
    try:
        path = (imagenet_weights(c.model) if c.weights == "imagenet" else
                torchvision_imagenet_weights(c.model) if c.weights == "imagenet-torch" else Path(c.weights))
    except models.WeightsError as exc:
        raise FeaturesSvmError(str(exc)) from None
    return str(path), file_identity(path)


class Network:
    """The network, built on first use (never when every feature comes from the cache)."""

    def __init__(self, c: Config, weights: str, loaded: models.LoadedModel | None = None):
        self.config = c
        self.weights = weights
        self.builds = 0
        self._model = None if loaded is None else loaded.model     # a .keras model: read once, up front
        self.spec = loaded.spec if loaded is not None else None
        self._layers_checked = False

    @property
    def model(self) -> keras.Model:
        if self._model is None:
            keras.utils.set_random_seed(self.config.seed)
            try:
                with dtype_policy(self.config.precision):
                    self._model = models.build_model(self.config.model, weights=self.weights,
                                                     **build_options(self.config.model))
            except models.WeightsError as exc:
                raise FeaturesSvmError(f"--weights: {exc}") from None
            self.builds += 1
        return self._model

    def check_layers(self, layers: Sequence[str], image_size: int) -> None:
        """Every requested layer exists and can be read at `image_size`, checked once, before the
        first extraction (a typo in the last of several layers must not wait for the first's minutes)."""
        if self._layers_checked or self.config.model == PIXELS:
            return
        for layer in layers:
            try:
                check_size(self.model, resolve_tap(self.model, str(layer)), image_size)
            except ValueError as exc:
                raise FeaturesSvmError(str(exc)) from None
        self._layers_checked = True

    def extractor(self, layer: str, image_size: int) -> tuple[FeatureExtractor, dict]:
        if self.config.model == PIXELS:
            extractor = FeatureExtractor(pixel_model(image_size), pixel_preprocess, image_size,
                                         pooling=self.config.pooling, batch_size=self.config.batch_size)
            pooled = "" if self.config.pooling == "flatten" else f", {self.config.pooling} over space"
            return extractor, {"label": PIXELS, "dim": extractor.dim,
                               "description": f"raw pixels ({image_size}x{image_size}x3 / 255{pooled})"}
        spec = self.spec or models.get_spec(self.config.model, self.weights)   # torchvision: their preprocessing
        try:
            tap = resolve_tap(self.model, layer)
            with dtype_policy(self.config.precision):
                features = tap_model(self.model, tap, image_size)
        except ValueError as exc:
            raise FeaturesSvmError(str(exc)) from None
        extractor = FeatureExtractor(features, spec.preprocess, image_size, pooling=self.config.pooling,
                                     batch_size=self.config.batch_size)
        return extractor, {"label": tap.label, "description": tap.description, "dim": extractor.dim}


def _features_for(c: Config, network: Network, cache: FeatureCache | None, layer: str, image_size: int,
                  lists: sources.LabelledLists, weights_id: dict, notes: list[str]
                  ) -> tuple[Features, Features, dict]:
    parts = {"model": c.model, "weights": weights_id, "layer": layer, "pooling": c.pooling,
             "image_size": image_size, "precision": c.precision}
    keys = {split: cache_key({**parts, "images": list_identity(getattr(lists, split))}) for split in ("train", "test")}
    stem = f"{lists.name}_{model_label(c.model)}_{layer.replace('-', 'm').replace('/', '_')}"
    cached = {split: cache.load(f"{stem}_{split}", keys[split]) for split in keys} if cache else {}
    if cache and all(cached.values()):
        problem = cached_features_problem(cached, lists)
        if problem is None:
            return cached["train"][0], cached["test"][0], cached["train"][1]["tap"]
        notes.append(f"feature cache {cache.path(stem + '_train', keys['train']).parent}: {problem}; "
                     "recomputed")
    network.check_layers(c.layers, image_size)
    extractor, tap = network.extractor(layer, image_size)
    check_reductions(c, samples=len(lists.train), dim=tap["dim"])   # before the extraction, not after it
    out = {}
    for split in ("train", "test"):
        image_list = getattr(lists, split)
        start = time.perf_counter()
        features = extractor.extract(image_list, progress=c.progress, description=f"{tap['label']} {split}")
        seconds = time.perf_counter() - start
        skipped = np.flatnonzero(~features.valid)
        if len(skipped):
            notes.append(f"{len(skipped)} unreadable {split} image(s) skipped, e.g. {image_list.paths[skipped[0]]}")
        notes.append(f"{tap['description']}: {split} features of {len(image_list)} images in {seconds:.1f} s")
        if cache:
            cache.save(f"{stem}_{split}", keys[split], features, {**parts, "tap": tap, "split": split})
        out[split] = features
    return out["train"], out["test"], tap


def cached_features_problem(cached: dict, lists: sources.LabelledLists) -> str | None:
    """What is wrong with cache entries whose key matches (their arrays must fit the lists), or None."""
    dims = set()
    for split, (features, parts) in cached.items():
        expected = len(getattr(lists, split))
        labels = getattr(lists, split).labels
        shapes = (features.features.shape, features.labels.shape, features.valid.shape)
        if (features.features.ndim != 2 or shapes[1] != (expected,) or shapes[2] != (expected,)
                or shapes[0][0] != expected):
            return (f"{split} entry holds arrays of shapes {', '.join(str(s) for s in shapes)} for "
                    f"{expected} images")
        if features.valid.dtype != bool or not np.issubdtype(features.features.dtype, np.floating):
            return f"{split} entry holds {features.features.dtype} features / {features.valid.dtype} mask"
        if not np.array_equal(features.labels, labels):
            return f"{split} entry's labels differ from the list's"
        tap = parts.get("tap") if isinstance(parts, dict) else None
        if not isinstance(tap, dict) or tap.get("dim") != features.features.shape[1]:
            return f"{split} entry holds {features.features.shape[1]} values per image, its record says otherwise"
        dims.add(features.features.shape[1])
    if len(dims) > 1:
        return f"train and test entries differ in width ({' vs '.join(str(d) for d in sorted(dims))})"
    return None


def _classify(c: Config, train: Features, test: Features, tap: dict, num_classes: int,
              reduction: reductions.Reduction, notes: list[str]) -> tuple[list[report.SweepRow], report.LayerResult]:
    """Every C on (optionally reduced) features; the reduction is fitted on the training features only."""
    if len(np.unique(train.y)) < 2:
        raise FeaturesSvmError("the readable training images cover fewer than two classes")
    options = {"epochs": c.epochs, "learning_rate": c.learning_rate, "batch_size": 64}
    Cs = sweep_values(c)
    start = time.perf_counter()
    try:
        x_train, x_test = reductions.fit(reduction, train.x, test.x, seed=c.seed)
    except ValueError as exc:
        raise FeaturesSvmError(f"--reduce {reduction.spec}: {exc}") from None
    reduce_seconds = time.perf_counter() - start
    cv = {}
    if len(Cs) > 1:
        try:
            cv = classifiers.cross_validate(c.classifier, Cs, train.x, train.y, folds=c.cv_folds, seed=c.seed,
                                            transform=lambda a, b: reductions.fit(reduction, a, b, seed=c.seed),
                                            **options)
        except ValueError as exc:
            raise FeaturesSvmError(str(exc)) from None
    rows, predictions = [], {}
    for C in Cs:
        start = time.perf_counter()
        model = classifiers.fit(classifiers.make_classifier(c.classifier, C, seed=c.seed, **options),
                                x_train, train.y, notes)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        predictions[C] = model.predict(x_test)
        predict_seconds = time.perf_counter() - start
        rows.append(report.SweepRow(tap["label"], tap["description"], tap["dim"], c.classifier, C, cv.get(C),
                                    float(np.mean(model.predict(x_train) == train.y)),
                                    float(np.mean(predictions[C] == test.y)), reduction=reduction.spec,
                                    classifier_dim=x_train.shape[1], reduce_seconds=reduce_seconds,
                                    fit_seconds=fit_seconds, predict_seconds=predict_seconds))
    chosen = max(Cs, key=lambda C: cv[C]) if cv else Cs[0]
    for row in rows:
        row.chosen = row.C == chosen
    confusion = report.confusion_matrix(test.y, predictions[chosen], num_classes)
    accuracy = next(r.test_accuracy for r in rows if r.chosen)
    label = tap["label"] if reduction.kind == "none" else f"{tap['label']}_{reduction.label}"
    description = tap["description"] if reduction.kind == "none" else f"{tap['description']}, {reduction.spec}"
    return rows, report.LayerResult(label, description, chosen, accuracy, confusion)


def model_label(model: str) -> str:
    """A name for file names and titles: the network's, or a .keras file's stem."""
    return Path(model).stem.replace(" ", "_") if is_model_file(model) else model


def open_model_file(c: Config) -> models.LoadedModel:
    """A .keras --model read safely (models.open_model): logits, input size, preprocessing, its
    class-map layer (the default descriptor, averaged over space)."""
    try:
        return models.open_model(c.model, preprocessing=c.preprocess, input_size=c.image_size)
    except models.WeightsError as exc:      # ModelFileError included: one line
        raise FeaturesSvmError(str(exc)) from None


def run(c: Config) -> RunResult:
    """Run the whole experiment of `c` and write its outputs."""
    check_config(c)
    c = with_model_defaults(c)
    output = Path(c.output_dir)
    notes: list[str] = []
    weights, weights_id = weight_source(c)
    loaded = open_model_file(c) if is_model_file(c.model) else None
    if loaded is not None:
        if c.layers is None:
            c = dataclasses.replace(c, layers=(loaded.layer,))
        notes += [f"{c.model}: {note}" for note in loaded.notes if not note.startswith("class-map layer")]
        notes.append(f"{c.model}: descriptor layer {', '.join(c.layers)}"
                     + (f" ({loaded.layer_reason})" if tuple(c.layers) == (loaded.layer,) else " (given)"))
        spec, image_size = loaded.spec, c.image_size or loaded.spec.input_size
    elif c.model == PIXELS:
        spec, image_size = None, c.image_size or PIXELS_SIZE
    else:
        spec = models.get_spec(c.model, weights)   # torchvision weights: their preprocessing and input size
        image_size = c.image_size or spec.input_size
        check_min_size(c.model, image_size)
    network = Network(c, weights, loaded)
    extra = []
    # The handout's Q1 (parameter counts) and Q4 (conv1 maps) need the network, not a data set.
    if c.summary:
        from utilities.features_svm.model_facts import format_counts, parameter_counts

        extra.append(format_counts(parameter_counts(network.model)))
    if c.activation_maps is not None:
        extra.append(_activation_figure(c, network, spec, output))
    try:
        lists = sources.load_lists(c.dataset, train_list=c.train_list, test_list=c.test_list, data_dir=c.data_dir,
                                   url=c.url, train_per_class=c.train_per_class, test_per_class=c.test_per_class,
                                   seed=c.seed, progress=c.progress)
    except FeaturesSvmError as exc:
        if not extra or c.train_list is not None:
            raise
        text = "\n".join([*extra, f"no classification: {exc}"])
        write_text_atomic(output / "report.txt", text + "\n")
        return RunResult([], [], text, network.builds, [])
    check_folds_before_extraction(c, lists)
    if c.weights == "random":
        notes.append("--weights random: an untrained network, features carry no ImageNet knowledge")
    cache = FeatureCache(c.cache_dir or output / "cache") if c.cache else None
    rows, results = [], []
    for layer in c.layers:
        train, test, tap = _features_for(c, network, cache, str(layer), image_size, lists, weights_id, notes)
        check_reductions(c, samples=len(train.y), dim=tap["dim"])   # cached features: their width
        for reduction in reduction_list(c):
            layer_rows, result = _classify(c, train, test, tap, lists.num_classes, reduction, notes)
            title = (f"{lists.name}, {c.model} {result.description}, {c.classifier} C={result.C:g}: "
                     f"{100 * result.accuracy:.1f}%")
            result.files.append(report.plot_confusion(result, lists.class_names,
                                                      output / f"confusion_{result.layer}.png", title))
            result.files.append(report.write_per_class_csv(result, lists.class_names,
                                                           output / f"per_class_{result.layer}.csv"))
            rows += layer_rows
            results.append(result)
    sweep_csv = report.write_sweep_csv(rows, output / "sweep.csv")
    sweep_png = report.plot_sweep(rows, output / "sweep.png", f"{lists.name}, {c.model}, {c.classifier}")
    weights_text = ("" if c.model == PIXELS else " its own weights," if loaded is not None
                    else f" weights {c.weights}, {c.precision},")
    header = [*extra,
              f"{lists.name}: {len(lists.train)} training / {len(lists.test)} test images, {lists.num_classes} "
              f"classes (chance {100 / lists.num_classes:.1f}%); {c.model}{weights_text} "
              f"input {image_size}px, pooling {c.pooling}; {c.classifier}"]
    if lists.source:
        header.append(f"images: {lists.source}")
    text = report.text_report(header, rows, results, lists.class_names, notes)
    text += f"\nwrote {sweep_csv} and {sweep_png}"
    write_text_atomic(output / "report.txt", text + "\n")
    return RunResult(rows, results, text, network.builds, notes)


def _activation_figure(c: Config, network: Network, spec, output: Path) -> str:
    from utilities.features_svm.model_facts import (
        activation_maps,
        first_conv,
        read_image,
        save_activation_figure,
    )

    try:
        image = read_image(c.activation_maps, spec.input_size)
    except Exception as exc:  # a TF decode error: not an image
        raise FeaturesSvmError(f"--activation-maps {c.activation_maps}: cannot read the image "
                               f"({type(exc).__name__})") from None
    layer = first_conv(network.model)
    maps = activation_maps(network.model, image, spec.preprocess, layer)
    dest = output / f"{layer}_{Path(c.activation_maps).stem}.png"
    save_activation_figure(image, maps, dest, f"{c.model} {layer} ({maps.shape[-1]} maps), weights {c.weights}")
    return f"{layer} activation maps of {c.activation_maps}: {dest}"

