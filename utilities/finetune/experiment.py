"""One fine-tuning experiment end to end: names, data, model, cache choice, loop, checkpoints, report.

assignment_3a.py only parses flags into an `ExperimentConfig` and calls `Experiment(...).run()`;
everything a run decides lives here so tests can drive it in-process.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import models
from utilities.common.atomic import atomic_path
from utilities.common.output_paths import OutputPathError, check_output_dir, disk_full_message
from utilities.common.summary_state import summary_state_restored
from utilities.digits.export import CLASSES_FILE, read_class_names
from utilities.finetune import distribute
from utilities.finetune.cache_precision import CACHE_PRECISIONS, CacheTrunk, choose_cache_trunk
from utilities.finetune.checkpointing import (
    CheckpointError,
    TrainingCheckpoint,
    find_latest_run,
    frozen_fingerprint,
    read_run_info,
    write_run_info,
)
from utilities.finetune.explain_logging import (
    DEFAULT_IMAGES,
    ExplainingObserver,
    ExplanationLogger,
    load_explanation_images,
)
from utilities.finetune.explain_schedule import AUTO, ExplainSchedule, parse_every
from utilities.finetune.feature_cache import (
    FeatureSplit,
    available_memory_bytes,
    cache_bytes,
    compute_features,
    split_for_cache,
)
from utilities.finetune.report import format_report
from utilities.finetune.tb_logging import RunLogger, histogram_tables
from utilities.finetune.training import (
    NonFiniteLossError,
    NoTrainingDataError,
    NoValidationDataError,
    StepRunner,
    fit,
)
from utilities.finetune.training_data import CachedData, ImageData, read_labelled_list
from utilities.wikiart import dataset
from utilities.wikiart.styles import class_names

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRAIN_LIST = PROJECT_ROOT / "utilities" / "data" / "train.txt"
DEFAULT_VAL_LIST = PROJECT_ROOT / "utilities" / "data" / "test.txt"
PRECISIONS = ("float32", "mixed_bfloat16")
CACHE_MODES = ("auto", "on", "off")
DOWNLOADER = "python utilities/download_wikiart.py"


class ExperimentError(RuntimeError):
    """A problem the user can fix (missing data, bad flag combination); the message says how."""


@dataclass
class ExperimentConfig:
    model: str = "alexnet"
    remove_fc: int = 1
    train_layers: Sequence[str] | None = None
    weights: str = "imagenet"
    train_list: Path = DEFAULT_TRAIN_LIST
    val_list: Path = DEFAULT_VAL_LIST
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 0.01
    dropout: float = 0.5
    display_step: int = 3
    logdir: Path = Path("logs")
    checkpoint_dir: Path = Path("checkpoints")
    run_name: str | None = None
    seed: int = 0
    resume: bool = False
    precision: str = "float32"
    cache_features: str = "auto"
    cache_precision: str = "auto"
    lrn_order: str | None = None
    num_classes: int = 10
    distribute: str = "auto"
    keep_checkpoints: int = 2
    flip: bool = True
    progress: bool = True
    explain_every: int | str = AUTO
    explain_images: int = DEFAULT_IMAGES

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v))
                for k, v in dataclasses.asdict(self).items()}


@dataclass
class ExperimentResult:
    run_name: str
    run_dir: Path
    checkpoint_dir: Path
    history: list[dict]
    cached: bool
    model: keras.Model = field(repr=False)
    report: str = ""


def _run_prefix(config: ExperimentConfig) -> str:
    return f"{config.model}_fc{config.remove_fc}_"


@contextlib.contextmanager
def _precision(policy: str):
    """Set the Keras dtype policy for building the model; restore the previous one afterwards."""
    if policy not in PRECISIONS:
        raise ExperimentError(f"--precision must be one of {', '.join(PRECISIONS)}, got {policy!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _tqdm(enabled: bool) -> Callable:
    if not enabled:
        return lambda iterable, **_: iterable
    from tqdm.auto import tqdm
    return tqdm


class Experiment:
    """Resolve the run (new or resumed) cheaply in __init__; `run()` does the heavy work."""

    def __init__(self, config: ExperimentConfig, *, strategy: tf.distribute.Strategy | None = None,
                 echo: Callable[[str], None] = print):
        self.config = config
        self.echo = echo
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = distribute.is_chief(self.strategy)
        self._check_flags()
        for flag, path in (("--train-list", config.train_list), ("--val-list", config.val_list)):
            if not Path(path).is_file():
                raise ExperimentError(f"{path} not found ({flag}): download the dataset first with "
                                      f"`{DOWNLOADER}`, or point {flag} to a \"path label\" list")
        self.class_names = self._class_names()
        self.run_name, self.checkpoint_dir, self.run_dir, self.previous = self._resolve_run()
        self.cache_note = ""
        self.cache_precision = "no cache"   # what the feature cache ran in (hparams)
        self.forward_seconds: float | None = None   # the whole network's forward, per image (the cache's pass)
        self._check_output_dirs()

    def _class_names(self) -> list[str]:
        """The names in classes.txt beside --train-list (an export of utilities.digits.export), else
        the WikiArt style names for 10 classes, "class i" otherwise."""
        c = self.config
        path = Path(c.train_list).parent / CLASSES_FILE
        try:
            names = read_class_names(path.parent)
        except (OSError, UnicodeDecodeError) as exc:
            raise ExperimentError(f"{path}: cannot read the class names ({exc})") from None
        if names is None:
            return class_names(c.num_classes)
        if len(names) != c.num_classes:
            raise ExperimentError(f"{path} names {len(names)} classes but --num-classes is {c.num_classes}; "
                                  f"pass --num-classes {len(names)} (or remove {CLASSES_FILE})")
        return names

    def _check_output_dirs(self) -> None:
        """--checkpoint-dir and --logdir: folders, writable, with some free space, before any work
        (a file, a read-only or a full disk used to fail only when the first writer opened)."""
        folders = [("--checkpoint-dir", self.checkpoint_dir.parent)]
        if self.chief:   # other workers write no TensorBoard files
            folders.append(("--logdir", self.run_dir.parent))
        try:
            for flag, folder in folders:
                check_output_dir(folder, flag)
        except OutputPathError as exc:
            raise ExperimentError(str(exc)) from None

    def _check_flags(self) -> None:
        c = self.config
        models.get_spec(c.model)  # ValueError with the choices
        checks = [(c.remove_fc in (1, 2), f"--remove-fc must be 1 or 2, got {c.remove_fc}"),
                  (c.epochs >= 1, f"--epochs must be >= 1, got {c.epochs}"),
                  (c.batch_size >= 1, f"--batch-size must be >= 1, got {c.batch_size}"),
                  (c.learning_rate > 0, f"--learning-rate must be > 0, got {c.learning_rate}"),
                  (c.display_step >= 1, f"--display-step must be >= 1, got {c.display_step}"),
                  (0 <= c.dropout < 1, f"--dropout must be in [0, 1), got {c.dropout}"),
                  (c.num_classes >= 2, f"--num-classes must be >= 2, got {c.num_classes}"),
                  (c.cache_features in CACHE_MODES, f"--cache-features must be one of {CACHE_MODES}"),
                  (c.cache_precision in CACHE_PRECISIONS, f"--cache-precision must be one of {CACHE_PRECISIONS}"),
                  (c.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
                  (c.lrn_order is None or c.model == "alexnet", "--lrn-order only applies to --model alexnet"),
                  (c.model != "squeezenet" or c.remove_fc == 1,
                   "--remove-fc 2 does not apply to --model squeezenet: its classifier is the single 1x1 "
                   "convolution conv10; use --remove-fc 1"),
                  (c.explain_images >= 1, f"--explain-images must be >= 1, got {c.explain_images}")]
        for ok, message in checks:
            if not ok:
                raise ExperimentError(message)
        try:
            c.explain_every = parse_every(c.explain_every)
        except ValueError as exc:
            raise ExperimentError(str(exc)) from None

    def _resolve_run(self) -> tuple[str, Path, Path, dict]:
        c = self.config
        root = Path(c.checkpoint_dir)
        if c.resume:
            directory = root / c.run_name if c.run_name else find_latest_run(root, _run_prefix(c))
            if directory is None or tf.train.latest_checkpoint(str(directory)) is None:
                where = directory or f"{root}/{_run_prefix(c)}*"
                raise ExperimentError(f"--resume: no checkpoint found in {where}; start a new run "
                                      "without --resume (or name the run with --run-name)")
            info = read_run_info(directory)
            run_dir = Path(info.get("run_dir", Path(c.logdir) / directory.name))
            return directory.name, directory, run_dir, info
        name = c.run_name or f"{_run_prefix(c)}{time.strftime('%Y%m%d-%H%M%S')}"
        if (root / name / "checkpoint").exists():
            if c.run_name:
                raise ExperimentError(f"run {name!r} already has checkpoints in {root / name}; add "
                                      "--resume to continue it or choose another --run-name")
            suffix = 2
            while (root / f"{name}-{suffix}").exists():
                suffix += 1
            name = f"{name}-{suffix}"
        return name, root / name, Path(c.logdir) / name, {}

    # ----- heavy part -----
    def _build(self) -> tuple[keras.Model, list[str], keras.optimizers.Optimizer]:
        c = self.config
        options = {"lrn_order": c.lrn_order or "bvlc"} if c.model == "alexnet" else {}
        with self.strategy.scope():
            model = models.build_model(c.model, c.weights, remove_fc=c.remove_fc,
                                       num_classes=c.num_classes, dropout=c.dropout, **options)
            layers = list(c.train_layers or models.default_train_layers(c.model, c.remove_fc))
            try:
                models.set_trainable(model, layers)
            except ValueError as exc:
                raise ExperimentError(str(exc)) from None
            optimizer = keras.optimizers.SGD(learning_rate=c.learning_rate)
        return model, layers, optimizer

    def _cache_split(self, model: keras.Model, train_size: int, epochs_left: int) -> FeatureSplit | None:
        mode = self.config.cache_features
        if mode == "off":
            return None
        split = split_for_cache(model)
        if mode == "on":
            if split is None:
                raise ExperimentError("--cache-features on: the first layer trains, nothing frozen to cache")
            if distribute.is_multi_worker(self.strategy):
                raise ExperimentError("--cache-features on is not supported with multi-worker training")
            return split
        # auto: only when every trained layer is in the classifier part (after flatten; a network
        # without FC layers, SqueezeNet, has convolutional heads: its frozen fire modules are cached)
        fully_convolutional = not any(isinstance(layer, keras.layers.Flatten) for layer in model.layers)
        if split is None or not (split.after_flatten or fully_convolutional) or distribute.is_multi_worker(
                self.strategy):
            return None
        if epochs_left < 2:  # the cache costs two forward passes; it pays from the second epoch
            return None
        memory = available_memory_bytes()
        if memory is not None and cache_bytes(split, train_size) > memory // 2:
            self.echo("not caching features: not enough free memory (use --cache-features off to silence)")
            return None
        return split

    def _data(self, model: keras.Model, split: FeatureSplit | None, train: dataset.ImageList,
              val: dataset.ImageList):
        c = self.config
        spec = models.get_spec(c.model, c.weights)   # torchvision weights bring their own preprocessing
        images = ImageData(train, val, spec.input_size, spec.preprocess, c.batch_size, c.seed, c.flip)
        if split is None:
            return images, model
        progress = _tqdm(c.progress and self.chief)
        started = time.perf_counter()
        trunk = self._cache_trunk(split, images)
        self.cache_precision = trunk.precision
        self.echo(f"Caching the frozen layers' output ({split.boundary}, {split.feature_shape}) "
                  f"for both flip states in {trunk.precision}: later epochs skip them")
        train_features, train_valid = compute_features(
            trunk.model, images.indexed_batches("train"), len(train), strategy=self.strategy,
            flips=(False, True), progress=lambda it: progress(it, desc="caching train", unit="batch", leave=False,
                                                              total=math.ceil(len(train) / c.batch_size)))
        val_features, val_valid = compute_features(
            trunk.model, images.indexed_batches("validation"), len(val), strategy=self.strategy,
            flips=(False,), progress=lambda it: progress(it, desc="caching validation", unit="batch", leave=False,
                                                         total=math.ceil(len(val) / c.batch_size)))
        seconds = time.perf_counter() - started
        self.forward_seconds = seconds / max(2 * len(train) + len(val), 1)
        self.cache_note = (f"Feature cache: {len(train)} training images x 2 flips + {len(val)} validation images "
                           f"in {seconds:.1f} s ({(len(train) + len(val)) / max(seconds, 1e-9):.1f} images/s, "
                           f"decoding included); the frozen layers ran in {trunk.note}")
        self.echo(self.cache_note)
        cached = CachedData(train_features, train_valid, train.labels, val_features, val_valid, val.labels,
                            c.batch_size, c.seed, c.flip)
        return cached, split.head

    def _cache_trunk(self, split: FeatureSplit, images: ImageData) -> CacheTrunk:
        """The trunk the cache runs: bfloat16 where --cache-precision allows it and the first batch agrees."""
        mode = self.config.cache_precision
        first = None
        if mode != "float32" and not distribute.is_multi_worker(self.strategy):
            for batch, _ in images.indexed_batches("train").take(1):
                first = batch
        with self.strategy.scope():
            return choose_cache_trunk(split.trunk, mode, first)

    def _explanations(self, model: keras.Model, val: dataset.ImageList) -> ExplanationLogger | None:
        """The explanation logger of `--explain-every` (None: off, not the chief, or no readable image)."""
        c = self.config
        if not c.explain_every or not self.chief:
            return None
        spec = models.get_spec(c.model, c.weights)   # torchvision weights bring their own preprocessing
        images = load_explanation_images(val, c.explain_images, spec.input_size, c.seed)
        if not len(images):
            self.echo(f"no explanations in TensorBoard: no readable image in {c.val_list}")
            return None
        try:
            return ExplanationLogger(self.run_dir, model, spec.preprocess, spec.gradcam_layer, images,
                                     self.class_names, seed=c.seed)
        except ValueError as exc:  # e.g. the conv layer is missing from a custom model
            raise ExperimentError(f"--explain-every: {exc}") from None

    def _hparams(self, layers: Sequence[str]) -> dict:
        c = self.config
        values = {"model": c.model, "remove_fc": c.remove_fc, "train_layers": ",".join(layers),
                  "learning_rate": c.learning_rate, "batch_size": c.batch_size, "dropout": c.dropout,
                  "epochs": c.epochs, "precision": c.precision, "seed": c.seed,
                  "weights": Path(str(c.weights)).name, "replicas": self.strategy.num_replicas_in_sync,
                  "preprocessing": models.get_spec(c.model, c.weights).preprocessing,
                  "cache_precision": self.cache_precision}
        if c.model == "alexnet":
            values["lrn_order"] = c.lrn_order or "bvlc"
        return values

    def run(self) -> ExperimentResult:
        """Train and report; a disk that fills up on the way (TensorBoard, explanations, exported
        weights) is one line: ExperimentError, finished epochs kept, --resume continues."""
        try:
            with summary_state_restored():   # a writer that failed to flush must not stay the default
                return self._run()
        except (OSError, tf.errors.OpError) as exc:
            message = disk_full(exc, getattr(exc, "filename", None) or self.run_dir)
            if message is None:
                raise
            if tf.train.latest_checkpoint(str(self.checkpoint_dir)):
                message += (f"; the finished epochs are checkpointed: continue with python assignment_3a.py ... "
                            f"--resume --run-name {self.run_name}")
            raise ExperimentError(message) from None

    def _run(self) -> ExperimentResult:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        try:
            train = read_labelled_list(c.train_list, c.num_classes)
            val = read_labelled_list(c.val_list, c.num_classes)
        except (dataset.ListFileError, dataset.MissingListError) as exc:
            raise ExperimentError(str(exc)) from None
        with _precision(c.precision):
            model, layers, optimizer = self._build()
        seed_states = [layer.seed_generator.state.value for layer in model.layers
                       if getattr(layer, "seed_generator", None) is not None]
        checkpoint = TrainingCheckpoint(self.checkpoint_dir, trained={name: model.get_layer(name) for name in layers},
                                        optimizer=optimizer, seed_states=seed_states, max_to_keep=c.keep_checkpoints,
                                        chief=self.chief, worker=distribute.worker_id(self.strategy) or "worker")
        fingerprint = frozen_fingerprint(model, layers)
        history = []
        if c.resume:
            if self.previous.get("frozen_fingerprint") != fingerprint:
                raise CheckpointError(
                    f"run {self.run_name} fine-tuned other frozen weights than --weights {c.weights} gives "
                    f"(it started from --weights {self.previous.get('config', {}).get('weights', '?')}); "
                    "resume with the same --weights, --model and --lrn-order")
            path = checkpoint.restore_latest()
            optimizer.learning_rate.assign(c.learning_rate)  # the command line wins over the checkpoint
            done = int(checkpoint.epoch.numpy())
            history = [h for h in self.previous.get("history", []) if h["epoch"] <= done]
            self.echo(f"Resuming {self.run_name} from {path}: epoch {done}, step {int(checkpoint.step.numpy())}")
        epochs_left = c.epochs - int(checkpoint.epoch.numpy())
        split = self._cache_split(model, len(train), epochs_left)
        data, network = self._data(model, split, train, val)
        runner = StepRunner(network, model.trainable_variables, optimizer, num_classes=c.num_classes,
                            strategy=self.strategy, display_summary=histogram_tables)
        logger = RunLogger(self.run_dir, self.class_names, enabled=self.chief)
        explanations = self._explanations(model, val)
        # auto defers the call before training (the trained variables' starting values kept); not with
        # several workers, where only the chief explains and must not assign variables on its own
        observer = logger if explanations is None else ExplainingObserver(
            logger, explanations, ExplainSchedule(c.explain_every, last_epoch=c.epochs),
            variables=() if distribute.is_multi_worker(self.strategy) else model.trainable_variables,
            forward_seconds_per_image=self.forward_seconds)
        info = {"run_name": self.run_name, "run_dir": str(self.run_dir), "config": c.to_json(),
                "train_layers": layers, "history": history, "frozen_fingerprint": fingerprint}

        def save(record) -> None:
            self.echo(f"epoch {record.epoch}/{c.epochs} (step {record.step}): train loss {record.train_loss:.4f} "
                      f"acc {record.train_accuracy:.3f} | validation loss {record.val_loss:.4f} "
                      f"acc {record.val_accuracy:.3f} | {record.images_per_second:.1f} images/s")
            history.append(record.as_dict())
            if self.chief:  # history first: a kill between the two is undone by the resume's filter
                write_run_info(self.checkpoint_dir, info)
            checkpoint.save()

        self.echo(f"Training {c.model} remove-fc {c.remove_fc}: layers {', '.join(layers)}; "
                  f"{distribute.describe(self.strategy)}; {'cached features' if split else 'full network'}; "
                  f"{len(train)} training / {len(val)} validation images")
        try:
            logger.session_start(int(checkpoint.step.numpy()))
            logger.hparams(self._hparams(layers), trial_id=self.run_name)
            if self.chief:
                write_run_info(self.checkpoint_dir, info)
            if explanations is not None:  # the maps before fine-tuning (resumed: the ones `mass moved` compares with)
                observer.start(int(checkpoint.step.numpy()), write=not c.resume)
            fit(runner, data, epochs=c.epochs, display_step=c.display_step, step=checkpoint.step,
                epoch=checkpoint.epoch, observer=observer, on_epoch_end=save,
                progress=_tqdm(c.progress and self.chief))
        except NoTrainingDataError:
            raise ExperimentError(
                f"no readable training image in {c.train_list}: all {len(train)} listed images were skipped as "
                f"unreadable (list them: python -m utilities.wikiart.dataset {c.train_list})") from None
        except NoValidationDataError:
            raise ExperimentError(
                f"no readable validation image in {c.val_list}: all {len(val)} listed images were skipped as "
                f"unreadable, so there is no validation loss or accuracy to report; nothing of this epoch was "
                f"saved (list them: python -m utilities.wikiart.dataset {c.val_list})") from None
        except NonFiniteLossError as exc:   # advise from the validation losses, not finiteness alone
            raise exc.judged(history, c.num_classes) from None
        finally:
            logger.close()
            if explanations is not None:
                explanations.close()
        notes = [f"Trained layers: {', '.join(layers)}" + (f" (cached {split.boundary} output)" if split else "")]
        if split is not None:
            notes.append(self.cache_note)
        if explanations is not None and explanations.seconds:
            notes.append(f"Explanations: {len(explanations.images)} validation images, "
                         f"{observer.schedule.describe()}; {np.mean(explanations.seconds):.2f} s each, in "
                         f"TensorBoard's Images tab ({self.run_dir / 'explanations'})")
        if self.chief and history:
            final = export_weights(model, self.checkpoint_dir / "final.weights.h5")
            notes.append(f"Fine-tuned weights: {final}  (explain them: python assignment_3b.py my_images "
                         f"--model {c.model} --weights {final} --remove-fc {c.remove_fc} "
                         f"--num-classes {c.num_classes})")
        skipped_train, skipped_val = data.skipped
        if skipped_train or skipped_val:
            notes.append(f"Skipped unreadable images: {skipped_train} training, {skipped_val} validation "
                         f"(list them: python -m utilities.wikiart.dataset {c.train_list} {c.val_list})")
        report = format_report(history, run_name=self.run_name, run_dir=self.run_dir,
                               checkpoint_dir=self.checkpoint_dir, notes=notes)
        return ExperimentResult(self.run_name, self.run_dir, self.checkpoint_dir, history,
                                split is not None, model, report)


def disk_full(exc: BaseException, where) -> str | None:
    """One line if `exc` says the disk is full: Python's OSError, h5py's (no errno, the reason in the
    text) or TensorFlow's file error (a summary writer's flush, a checkpoint), else None."""
    if isinstance(exc, OSError):
        message = disk_full_message(exc, where)
        if message is not None or "No space left on device" not in str(exc):
            return message
    elif not (isinstance(exc, tf.errors.OpError) and ("No space left" in exc.message
                                                       or "quota" in exc.message.lower())):
        return None
    return f"the disk holding {where} is full (No space left on device); free some space and run again"


def export_weights(model: keras.Model, dest: Path) -> Path:
    """Save the model's weights (Keras 3 .weights.h5, loadable by models.build_model) atomically."""
    with atomic_path(dest) as tmp:
        model.save_weights(tmp)
    return dest
