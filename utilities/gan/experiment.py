"""One GAN run from start to finish: data, judge, networks, epochs, outputs (what `gan.py` calls).

Outputs of a run named R (default `<model>_<dataset>`):
    results/gan/R/samples.png          the fixed-noise grid after the last epoch (cDCGAN: row d = digit d)
    results/gan/R/progress.png         rows of samples from the same noise at chosen epochs/steps (+ progress.npz)
    results/gan/R/losses.png           loss curves, D's outputs and the quality numbers per epoch
    results/gan/R/metrics.csv          per epoch; steps.csv per step (utilities.gan.history)
    results/gan/R/generator.weights.h5 the trained generator (models.gan.build_generator layout)
    results/gan/R/checkpoints/         every epoch: G, D, both Adams, the noise state (+ run.json)
    logs/gan/R/                        TensorBoard (utilities.gan.tb)
Both folders are claimed (utilities.common.run_folder): locked while the run writes them, and
a folder that already holds a run is refused unless --resume continues it or --overwrite
starts it over (then the files this program wrote there are removed first). The output folders
are checked before any work; a disk that fills up during the run stops it with one line
(DiskFull), every file written so far complete (atomic writes; the last checkpoint in charge).
"""
from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from utilities.common.atomic import atomic_path
from utilities.common.output_paths import OutputPathError, check_output_dir, disk_full_message
from utilities.common.run_checkpoint import ResumeError, RunCheckpoint
from utilities.common.run_folder import RunFolderError, claim_run_folder
from utilities.digits import DatasetUnavailable
from utilities.gan.config import GanConfig, UsageError
from utilities.gan.data import GanImages, epoch_batches, load_gan_images, steps_per_epoch
from utilities.gan.grids import save_grid, tile
from utilities.gan.history import History
from utilities.gan.judge import Judge, judge_path, load_or_train_judge
from utilities.gan.progress import ProgressRecord, row_indices, save_progress_figure
from utilities.gan.quality import Quality, QualityMeter
from utilities.gan.tb import GanBoard
from utilities.gan.trainer import GRID_COLUMNS, GanTrainer

STEP_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")


# What a run writes in its folder: what --overwrite removes before starting it over.
RUN_OUTPUTS = ("samples.png", "progress.png", "progress.npz", "losses.png", "metrics.csv", "steps.csv",
               "generator.weights.h5")


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; that epoch was not saved (exit code 3)."""


class DiskFull(RuntimeError):
    """The disk filled up during the run; str() is one line (exit code 1). Finished epochs are kept."""


@dataclass
class RunResult:
    run_dir: Path
    epochs_done: int
    quality: Quality | None
    judge: Judge
    history: History
    samples: np.ndarray | None = None   # the final fixed-noise grid, (100, 32, 32, 1) in [-1, 1]


def load_data(config: GanConfig) -> GanImages:
    """The training images, or UsageError with the one-line reason (MNIST offline)."""
    try:
        data = load_gan_images(config.dataset)
    except DatasetUnavailable as exc:
        raise UsageError(f"{exc} (offline? --dataset digits uses the digits bundled with scikit-learn)") from None
    if config.batch_size > len(data.x_train):
        raise UsageError(f"--batch-size {config.batch_size} is larger than the {len(data.x_train)} training "
                         f"images of {config.dataset}; use a smaller one")
    return data


def check_outputs(config: GanConfig) -> None:
    """The output folders exist (or are created), are folders, writable, with some free space: UsageError if not."""
    try:
        check_output_dir(config.results_dir, "--results-dir")
        check_output_dir(config.logdir, "--logdir")
        if not judge_path(config.judge_dir, config.dataset).exists():   # the judge will be trained and cached
            check_output_dir(config.judge_dir, "--classifier-dir" if config.classifier_dir else "--results-dir")
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def claim_run(config: GanConfig, *, resume: bool | None = None, overwrite: bool | None = None):
    """Claim the run's results and TensorBoard folders (lock; refuse a finished run without --resume/--overwrite)."""
    resume = config.resume if resume is None else resume
    overwrite = config.overwrite if overwrite is None else overwrite
    with contextlib.ExitStack() as stack:
        try:
            for folder in (config.run_dir, Path(config.logdir) / config.name):
                stack.enter_context(claim_run_folder(folder, resume=resume, overwrite=overwrite))
        except RunFolderError as exc:
            raise UsageError(str(exc)) from None
        yield


def start_afresh(run_dir: Path, tb_dir: Path) -> None:
    """--overwrite: remove what an earlier run of this program wrote (checkpoints, outputs, TensorBoard events)."""
    if (run_dir / "checkpoints").is_dir():
        shutil.rmtree(run_dir / "checkpoints")
    for name in RUN_OUTPUTS:
        (run_dir / name).unlink(missing_ok=True)
    for events in tb_dir.glob("events.out.tfevents.*"):
        events.unlink()


def disk_full(exc: BaseException, where: Path) -> str | None:
    """The one-line message if `exc` says the disk is full (Python's OSError or TensorFlow's file error)."""
    if isinstance(exc, OSError):
        return disk_full_message(exc, where)
    if isinstance(exc, tf.errors.OpError) and ("No space left" in exc.message or "quota" in exc.message.lower()):
        return f"the disk holding {where} is full (No space left on device); free some space and run again"
    return None


def _epoch_row(epoch: int, steps: list[dict[str, float]], quality: Quality, seconds: float) -> dict[str, float]:
    row = {"epoch": epoch, **{k: float(np.mean([s[k] for s in steps])) for k in STEP_KEYS},
           "entropy_bits": quality.entropy_bits, "diversity": quality.diversity, "seconds": seconds}
    if quality.accuracy is not None:
        row["accuracy"] = quality.accuracy
        row.update({f"accuracy_{c}": float(a) for c, a in enumerate(quality.class_accuracy)})
    row.update({f"fraction_{c}": float(f) for c, f in enumerate(quality.histogram)})
    return row


def _title(config: GanConfig, epochs_done: int) -> str:
    return (f"{config.model.upper() if config.model == 'dcgan' else 'cDCGAN'} on {config.dataset}, "
            f"epoch {epochs_done}, lr G {config.lr_g:g} / D {config.lr_d:g}, {config.g_loss} G loss")


def write_final_outputs(config: GanConfig, trainer: GanTrainer, history: History, steps_per_ep: int,
                        progress: ProgressRecord | None = None) -> np.ndarray:
    """samples.png, progress.png, losses.png and generator.weights.h5 of the run as it stands; returns the grid."""
    epochs_done = int(history.epochs[-1]["epoch"]) if history.epochs else 0
    samples = trainer.grid_samples()
    save_grid(samples, config.run_dir / "samples.png", GRID_COLUMNS, _title(config, epochs_done),
              row_labels=[str(d) for d in range(10)] if config.conditional else None)
    if progress is not None:
        rows = progress.select(config.progress_rows, config.progress_steps, steps_per_ep)
        save_progress_figure(rows, config.run_dir / "progress.png",
                             _title(config, epochs_done) + "\nthe same noise in every row"
                             + (" (column d: digit d asked for)" if config.conditional else ""),
                             column_labels=[str(d) for d in range(10)] if config.conditional else None)
    if history.epochs:
        from utilities.gan.curves import save_curves
        save_curves(history.step_arrays(steps_per_ep), history.epoch_arrays(), config.run_dir / "losses.png",
                    _title(config, epochs_done))
    with atomic_path(config.run_dir / "generator.weights.h5") as tmp:
        trainer.generator.save_weights(tmp)
    return samples


def run_gan(config: GanConfig, log=None, data: GanImages | None = None) -> RunResult:
    """Train (or continue) the run `config` describes; raises UsageError, NonFiniteLoss, DiskFull.

    `data`: the training images if the caller has loaded them already (a learning-rate comparison).
    """
    config.validate()
    say = log or (tqdm.write if config.progress else print)
    check_outputs(config)
    data = data if data is not None else load_data(config)
    with claim_run(config):
        try:
            return _train(config, data, say)
        except (OSError, tf.errors.OpError) as exc:
            message = disk_full(exc, config.run_dir)
            if message is None:
                raise
            raise DiskFull(message + (f"; `--resume` continues {config.run_dir} from its last finished epoch"
                                      if (config.run_dir / "checkpoints" / "checkpoint").exists() else "")) from None


def _train(config: GanConfig, data: GanImages, say) -> RunResult:
    judge = load_or_train_judge(data, config.judge_dir, log=say)
    say(f"Judge: a small CNN, {100 * judge.test_accuracy:.1f}% on the {len(data.x_test)} real test digits "
        f"of {data.name} ({judge.path})")

    trainer = GanTrainer(config, data.num_classes)
    run_dir, tb_dir = config.run_dir, Path(config.logdir) / config.name
    if config.overwrite:
        start_afresh(run_dir, tb_dir)
    checkpoint = RunCheckpoint(run_dir / "checkpoints", config.resume_settings(), **trainer.checkpoint_objects())
    try:
        epochs_done = checkpoint.start(config.resume)
    except ResumeError as exc:   # a new run without --resume would be refused here: say how to start over
        raise UsageError(str(exc).replace("start a new run without --resume",
                                          "start it over with --overwrite, or choose another --run-name")) from None
    per_epoch = steps_per_epoch(len(data.x_train), config.batch_size)
    history = History(run_dir, config.conditional, data.num_classes)
    progress = ProgressRecord(run_dir)
    if config.resume:
        history.load(epochs_done)
        progress.load(epochs_done * per_epoch)
        say(f"Resuming {run_dir} after epoch {epochs_done}")
    progress_steps = set(config.progress_steps)
    progress_indices = row_indices(config.conditional, GRID_COLUMNS)
    if epochs_done == 0 and 0 in progress_steps:
        progress.add(0, 0.0, trainer.progress_samples(progress_indices))
    meter = QualityMeter(judge.model, config.latent_dim, config.conditional, config.eval_samples, config.seed,
                         data.x_train, data.y_train, data.num_classes)
    board = GanBoard(tb_dir)
    total = config.total_epochs
    quality = None
    try:
        for epoch in range(epochs_done + 1, total + 1):
            started = time.perf_counter()
            outputs = []
            first = history.global_step + 1
            batches = epoch_batches(data.x_train, data.y_train, config.batch_size, config.seed, epoch)
            bar = tqdm(total=per_epoch, desc=f"epoch {epoch}/{total}", leave=False, disable=not config.progress,
                       unit="step")
            for real, labels in batches:
                outputs.append(trainer.train_step(real, labels))
                step = first + len(outputs) - 1
                if step in progress_steps:
                    progress.add(step, step / per_epoch, trainer.progress_samples(progress_indices))
                bar.update()
                if bar.n % 10 == 0 and config.progress:
                    bar.set_postfix(D=f"{float(outputs[-1]['d_loss']):.3f}", G=f"{float(outputs[-1]['g_loss']):.3f}")
            bar.close()
            steps = [{"step": first + i, "epoch": epoch, **{k: float(out[k]) for k in STEP_KEYS}}
                     for i, out in enumerate(outputs)]
            bad = [s["step"] for s in steps if not all(np.isfinite(s[k]) for k in STEP_KEYS)]
            if bad:
                raise NonFiniteLoss(
                    f"the losses became NaN or infinite at step {bad[0]} (epoch {epoch}); epoch {epoch} was not "
                    "saved; lower --lr-d / --lr-g and start the run over with --overwrite (or another --run-name)")
            quality = meter.measure(trainer.generator)
            row = _epoch_row(epoch, steps, quality, time.perf_counter() - started)
            progress.add(steps[-1]["step"], float(epoch), trainer.progress_samples(progress_indices))
            board.write_epoch(steps, tile(trainer.grid_samples(), GRID_COLUMNS), quality)
            history.add_epoch(row, steps)
            progress.save()
            checkpoint.save(epoch)
            say(f"epoch {epoch}/{total}  D {row['d_loss']:.3f}  G {row['g_loss']:.3f}  "
                f"D(x) {row['d_real']:.2f}  D(G(z)) {row['d_fake']:.2f}  {quality.summary()}  "
                f"[{row['seconds']:.1f} s]")
    finally:
        board.close()
    if epochs_done >= total:
        say(f"{run_dir} already has {epochs_done} epochs (--epochs {total}); nothing to train")
    samples = write_final_outputs(config, trainer, history, per_epoch, progress)
    say(f"Wrote {run_dir}/samples.png, progress.png, losses.png, metrics.csv, generator.weights.h5; "
        f"tensorboard --logdir {config.logdir}")
    return RunResult(run_dir, max(total, epochs_done), quality, judge, history, samples)
