"""One domain-adaptation run: data, the three networks, the epoch loop, logs, checkpoints, figure.

    results/domain_adaptation/<run>/metrics.csv      one row per epoch (metrics_log.COLUMNS)
    results/domain_adaptation/<run>/features.png     t-SNE/PCA of source vs target test features
    results/domain_adaptation/<run>/summary.json     the final test accuracies and the settings
    results/domain_adaptation/<run>/checkpoints/     per-epoch checkpoints + run.json (--resume)
    logs/domain_adaptation/<run>/                    TensorBoard scalars per epoch

Batches: each step takes `batch_size` source and `batch_size` target images (128 in all, as in
pumpikano/tf-dann); an epoch is one pass over the source set, the target set is cycled. The
order comes from a generator seeded by (seed, epoch), so a resumed run sees the batches the
uninterrupted run would have seen.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from models.dann import FILTERS, build_dann
from utilities.common.atomic import write_text_atomic
from utilities.common.output_paths import check_output_dir, disk_full_message
from utilities.common.run_checkpoint import RunCheckpoint
from utilities.common.run_folder import claim_run_folder
from utilities.domain_adaptation.bsds import BSDS_URL
from utilities.domain_adaptation.domains import DomainPair, load_domains, network_input
from utilities.domain_adaptation.feature_plot import FeatureSample, plot_features, sample_indices
from utilities.domain_adaptation.metrics_log import MetricsLog, read_rows
from utilities.domain_adaptation.schedules import AnnealedLearningRate, parse_lambda
from utilities.domain_adaptation.training import (
    STEP_OUTPUTS,
    DannStep,
    DomainScores,
    Evaluator,
    Scores,
    report_line,
    score,
)

MODES = ("source-only", "dann", "pseudo-label")
DEFAULT_EPOCHS = {"digits": 40, "mnist": 20, "mnist5k": 40}
DEFAULT_OUT = Path("results/domain_adaptation")
DEFAULT_LOGDIR = Path("logs/domain_adaptation")


class ExperimentError(RuntimeError):
    """A setting or file the run cannot use; the message names it and says what to do."""


class NonFiniteLoss(RuntimeError):
    """Training diverged (NaN/inf loss); the epoch was not saved."""


class OutputWriteError(RuntimeError):
    """A result could not be written during the run (disk full, folder gone); nothing was left half-written."""


@dataclass
class Config:
    """Everything a run needs; `training_settings()` is what --resume must find unchanged."""

    dataset: str = "digits"
    mode: str = "dann"
    lambda_spec: str | None = None  # None: "schedule" for dann, "fixed:0" otherwise
    epochs: int | None = None  # None: DEFAULT_EPOCHS[dataset]
    batch_size: int = 64  # per domain and step
    filters: tuple[int, int] = FILTERS  # conv1, conv2 widths (the paper's 32, 48)
    learning_rate: float = 0.01
    lr_alpha: float = 10.0  # 0 = no annealing
    lr_beta: float = 0.75
    momentum: float = 0.9
    gamma: float = 10.0
    pseudo_threshold: float = 0.9
    pseudo_start: float = 0.5  # fraction of the epochs trained before pseudo-labels are used
    seed: int = 0
    out_dir: Path = DEFAULT_OUT
    logdir: Path = DEFAULT_LOGDIR
    data_dir: Path | None = None  # None: Keras' dataset cache
    run_name: str | None = None
    resume: bool = False
    overwrite: bool = False
    embedding: str = "tsne"
    progress: bool = True
    bsds_url: str = BSDS_URL
    compiled: bool = True

    def resolved(self) -> Config:
        """A copy with defaults filled in and every value checked (ExperimentError naming the flag)."""
        if self.mode not in MODES:
            raise ExperimentError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.dataset not in DEFAULT_EPOCHS:
            raise ExperimentError(f"--dataset must be one of {', '.join(DEFAULT_EPOCHS)}, got {self.dataset!r}")
        spec = self.lambda_spec or ("schedule" if self.mode == "dann" else "fixed:0")
        try:
            schedule = parse_lambda(spec, self.gamma)
        except ValueError as exc:
            raise ExperimentError(str(exc)) from None
        if self.mode == "source-only" and schedule.value != 0:
            raise ExperimentError("--lambda: source-only training reverses no gradient; "
                                  "use --mode dann (or pseudo-label) with --lambda, or leave --lambda out")
        epochs = DEFAULT_EPOCHS[self.dataset] if self.epochs is None else self.epochs
        numbers = {"--learning-rate": self.learning_rate, "--lr-alpha": self.lr_alpha, "--lr-beta": self.lr_beta,
                   "--momentum": self.momentum, "--gamma": self.gamma, "--pseudo-threshold": self.pseudo_threshold,
                   "--pseudo-start": self.pseudo_start}
        for flag, value in numbers.items():
            if not math.isfinite(value):
                raise ExperimentError(f"{flag} must be a finite number, got {value}")
        checks = [("--epochs", epochs >= 1), ("--batch-size", self.batch_size >= 1),
                  ("--learning-rate", self.learning_rate > 0), ("--pseudo-threshold", 0 < self.pseudo_threshold <= 1),
                  ("--pseudo-start", 0 <= self.pseudo_start < 1), ("--lr-alpha", self.lr_alpha >= 0),
                  ("--momentum", 0 <= self.momentum < 1), ("--gamma", self.gamma > 0),
                  ("--filters", len(self.filters) == 2 and min(self.filters) >= 1)]
        for flag, ok in checks:
            if not ok:
                raise ExperimentError(f"{flag}: value out of range (see --help)")
        return dataclasses.replace(self, lambda_spec=schedule.spec, epochs=epochs,
                                   run_name=self.run_name or default_run_name(self.dataset, self.mode,
                                                                              schedule.spec, self.seed))

    def training_settings(self) -> dict:
        keys = ("dataset", "mode", "lambda_spec", "epochs", "batch_size", "filters", "learning_rate", "lr_alpha",
                "lr_beta", "momentum", "gamma", "seed")
        settings = {k: getattr(self, k) for k in keys}
        settings["filters"] = list(self.filters)
        if self.mode == "pseudo-label":
            settings.update(pseudo_threshold=self.pseudo_threshold, pseudo_start=self.pseudo_start)
        return settings


def default_run_name(dataset: str, mode: str, lambda_spec: str, seed: int) -> str:
    """e.g. digits_dann_schedule_seed0, digits_dann_fixed1_seed0, digits_source-only_seed0."""
    parts = [dataset, mode]
    if lambda_spec != "fixed:0":
        parts.append(lambda_spec.replace(":", "").replace("-", "m"))
    return "_".join(parts) + f"_seed{seed}"


@dataclass
class RunResult:
    """What a run hands back: final test scores, epoch rows, where its files are, a feature sample."""

    config: Config
    scores: Scores
    rows: list[dict[str, float]]
    run_dir: Path
    features: FeatureSample | None = None
    files: dict[str, Path] = field(default_factory=dict)


def pseudo_labels(evaluator: Evaluator, x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes of the target images and weights 1 where the top probability >= threshold."""
    probabilities = evaluator.run(x)[0]
    return probabilities.argmax(-1).astype(np.int64), (probabilities.max(-1) >= threshold).astype(np.float32)


def epoch_batches(n_source: int, n_target: int, batch: int, seed: int, epoch: int):
    """Index pairs (source, target) of one epoch: a source permutation, target permutations cycled."""
    rng = np.random.default_rng([seed, epoch])
    order_s = rng.permutation(n_source)
    steps = n_source // batch
    repeats = math.ceil(steps * batch / n_target)
    order_t = np.concatenate([rng.permutation(n_target) for _ in range(repeats)])
    for i in range(steps):
        yield order_s[i * batch:(i + 1) * batch], order_t[i * batch:(i + 1) * batch]


def check_outputs(cfg: Config) -> None:
    """Every folder the run writes, checked before any work (OutputPathError naming the flag)."""
    check_output_dir(cfg.out_dir, "--out")
    check_output_dir(cfg.logdir, "--logdir")
    if cfg.dataset == "mnist":  # BSR_bsds500.tgz and mnistm.npz are written there
        from utilities.digits.keras_files import datasets_dir
        check_output_dir(Path(cfg.data_dir or datasets_dir()), "--data-dir")


def run_experiment(config: Config, domains: DomainPair | None = None) -> RunResult:
    """Train (or continue with config.resume) one run and write its files; returns the final scores.

    The run folder is locked for the whole run (`run_folder.claim_run_folder`): a second process
    asking for it, or a new run into a folder that holds one without --resume/--overwrite, is
    refused with one line before any work.
    """
    cfg = config.resolved()
    check_outputs(cfg)
    run_dir = Path(cfg.out_dir) / cfg.run_name
    with claim_run_folder(run_dir, resume=cfg.resume, overwrite=cfg.overwrite, flag="--run-name"):
        if cfg.overwrite and not cfg.resume:
            clear_run(run_dir, Path(cfg.logdir) / cfg.run_name)
        if domains is None:
            from utilities.digits.keras_files import datasets_dir
            domains = load_domains(cfg.dataset, Path(cfg.data_dir or datasets_dir()), progress=cfg.progress,
                                   bsds_url=cfg.bsds_url)
        return _train(cfg, run_dir, domains)


RUN_FILES = ("metrics.csv", "summary.json", "features.png")


def clear_run(run_dir: Path, tb_dir: Path) -> None:
    """--overwrite: remove what a previous run of this name wrote (checkpoints, files, TensorBoard events)."""
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    if tb_dir.is_dir():
        for events in tb_dir.glob("events.out.tfevents.*"):
            events.unlink(missing_ok=True)


def save_checkpoint(checkpoint: RunCheckpoint, epoch: int) -> None:
    """checkpoint.save(epoch); on a full or unwritable disk OutputWriteError (one line). RunCheckpoint.save has
    removed the half-written files; the previous epoch's checkpoint is still in charge."""
    try:
        checkpoint.save(epoch)
    except (OSError, tf.errors.OpError) as exc:
        reason = (getattr(exc, "strerror", None) or getattr(exc, "message", None) or str(exc)).splitlines()[0]
        if isinstance(exc, tf.errors.ResourceExhaustedError) or "No space left" in reason:
            exc = OSError(errno.ENOSPC, "No space left on device")  # how TensorFlow reports ENOSPC
        full = isinstance(exc, OSError) and disk_full_message(exc, checkpoint.directory)
        raise OutputWriteError((full or f"cannot write the checkpoint of epoch {epoch} in {checkpoint.directory} "
                                f"({reason[:200]})")
                               + (f"; --resume continues from epoch {epoch - 1}" if epoch > 1 else "")) from None


def _say(text: str, progress: bool) -> None:
    if progress:
        tqdm.write(text)
    else:
        print(text, flush=True)


def epoch_report(epoch: int, epochs: int, row: dict[str, float], test: Scores) -> str:
    """The handout's report for one epoch: train and test, source and target, every number."""
    head = f"epoch {epoch}/{epochs}  lambda {row['lambda']:.3f}  learning rate {row['learning_rate']:.3g}"
    if not math.isnan(row["pseudo_fraction"]):
        head += f"  pseudo-labels for {100 * row['pseudo_fraction']:.1f}% of the target"
        if not math.isnan(row["pseudo_accuracy"]):
            head += f" ({100 * row['pseudo_accuracy']:.1f}% right)"
    head += f"  {row['seconds']:.1f} s"
    train = {domain: DomainScores(*(row[f"train_{domain}_{k}"] for k in ("class_loss", "accuracy", "domain_loss",
                                                                        "domain_accuracy")))
             for domain in ("source", "target")}
    return "\n".join([head, "  train " + report_line("source", train["source"]),
                      "  train " + report_line("target", train["target"]),
                      "  test  " + report_line("source", test.source), "  test  " + report_line("target", test.target)])


def _train(cfg: Config, run_dir: Path, domains: DomainPair) -> RunResult:
    if cfg.batch_size > len(domains.xs_train):
        raise ExperimentError(f"--batch-size {cfg.batch_size} exceeds the {len(domains.xs_train)} source images")

    keras.utils.set_random_seed(cfg.seed)
    net = build_dann(filters=tuple(cfg.filters))
    steps_per_epoch = len(domains.xs_train) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    learning_rate = AnnealedLearningRate(cfg.learning_rate, total_steps, cfg.lr_alpha, cfg.lr_beta)
    optimizer = keras.optimizers.SGD(learning_rate, momentum=cfg.momentum)
    lambda_schedule = parse_lambda(cfg.lambda_spec, cfg.gamma)
    step = DannStep(net, optimizer, lambda_schedule, total_steps, use_pseudo_labels=cfg.mode == "pseudo-label",
                    compiled=cfg.compiled)
    checkpoint = RunCheckpoint(run_dir / "checkpoints", cfg.training_settings(),
                               feature_extractor=net.feature_extractor, label_predictor=net.label_predictor,
                               domain_classifier=net.domain_classifier, optimizer=optimizer)
    epochs_done = checkpoint.start(cfg.resume)

    evaluator = Evaluator(net)
    mean = domains.mean
    xs_test, xt_test = network_input(domains.xs_test, mean), network_input(domains.xt_test, mean)
    xt_train_input = network_input(domains.xt_train, mean) if cfg.mode == "pseudo-label" else None
    log = MetricsLog(run_dir / "metrics.csv", Path(cfg.logdir) / cfg.run_name,
                     read_rows(run_dir / "metrics.csv", epochs_done) if cfg.resume else [])
    pseudo_from = math.floor(cfg.pseudo_start * cfg.epochs)
    try:
        for epoch in range(epochs_done, cfg.epochs):
            started = time.perf_counter()
            yt = wt = None
            pseudo_fraction = pseudo_accuracy = math.nan
            if cfg.mode == "pseudo-label" and epoch >= pseudo_from:
                yt, wt = pseudo_labels(evaluator, xt_train_input, cfg.pseudo_threshold)
                pseudo_fraction = float(wt.mean())
                pseudo_accuracy = float(np.mean((yt == domains.yt_train)[wt > 0])) if wt.any() else math.nan
            sums = np.zeros(len(STEP_OUTPUTS))
            batches = epoch_batches(len(domains.xs_train), len(domains.xt_train), cfg.batch_size, cfg.seed, epoch)
            for si, ti in tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                               disable=not cfg.progress, leave=False):
                out = step(network_input(domains.xs_train[si], mean), domains.ys_train[si],
                           network_input(domains.xt_train[ti], mean),
                           None if yt is None else yt[ti], None if wt is None else wt[ti], domains.yt_train[ti])
                sums += [float(v) for v in out]
            train = dict(zip(STEP_OUTPUTS, sums / steps_per_epoch, strict=True))
            label_loss, domain_loss = train["label_loss"], train["domain_loss"]
            if not (math.isfinite(label_loss) and math.isfinite(domain_loss)):
                raise NonFiniteLoss(f"the loss became {label_loss + domain_loss} in epoch {epoch + 1}; "
                                      "lower --learning-rate (nothing of this epoch was saved)")
            scores = score(evaluator, xs_test, domains.ys_test, xt_test, domains.yt_test)
            row = {"epoch": epoch + 1, "label_loss": label_loss, "domain_loss": domain_loss,
                   "lambda": float(net.grl.lambda_.numpy()),
                   "learning_rate": float(learning_rate(optimizer.iterations - 1)),
                   "pseudo_fraction": pseudo_fraction, "pseudo_accuracy": pseudo_accuracy,
                   "train_source_accuracy": train["source_accuracy"],
                   "train_domain_accuracy": 0.5 * (train["source_domain_accuracy"] + train["target_domain_accuracy"]),
                   "seconds": time.perf_counter() - started,
                   **dataclasses.asdict(scores), **{f"train_{k}": train[k] for k in STEP_OUTPUTS[2:]}}
            log.add(row)
            save_checkpoint(checkpoint, epoch + 1)
            _say(epoch_report(epoch + 1, cfg.epochs, row, scores), cfg.progress)
    finally:
        log.close()

    scores = score(evaluator, xs_test, domains.ys_test, xt_test, domains.yt_test)
    sample = feature_sample(evaluator, domains, xs_test, xt_test, cfg)
    files = {"metrics": run_dir / "metrics.csv", "summary": run_dir / "summary.json"}
    if cfg.embedding != "none":
        if not all(np.isfinite(a).all() for a in (sample.source, sample.target)):
            raise NonFiniteLoss("the features of the test images are not finite (the weights diverged); "
                                "lower --learning-rate")
        files["features"] = plot_features([sample], run_dir / "features.png", cfg.embedding, cfg.seed)
    write_text_atomic(files["summary"], json.dumps(
        {"settings": cfg.training_settings(), "source": domains.source_name, "target": domains.target_name,
         **dataclasses.asdict(scores)}, indent=2))
    return RunResult(cfg, scores, log.rows, run_dir, sample, files)


def feature_sample(evaluator: Evaluator, domains: DomainPair, xs_test: np.ndarray, xt_test: np.ndarray,
                   cfg: Config) -> FeatureSample:
    """Features of a fixed subset of both test sets (same images for every run of the dataset)."""
    si, ti = sample_indices(len(xs_test), 0), sample_indices(len(xt_test), 1)
    title = cfg.mode if cfg.mode != "dann" else f"dann ({cfg.lambda_spec})"
    return FeatureSample(title, evaluator.run(xs_test[si])[1], domains.ys_test[si], evaluator.run(xt_test[ti])[1],
                         domains.yt_test[ti])
