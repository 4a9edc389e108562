"""One GAN run from start to finish: data, judge, networks, epochs, outputs (what `gan.py` calls).

Outputs of a run named R (default `<model>_<dataset>`):
    results/gan/R/samples.png          the fixed-noise grid after the last epoch (cDCGAN: row d = digit d)
    results/gan/R/losses.png           loss curves, D's outputs and the quality numbers per epoch
    results/gan/R/metrics.csv          per epoch; steps.csv per step (utilities.gan.history)
    results/gan/R/generator.weights.h5 the trained generator (models.gan.build_generator layout)
    results/gan/R/checkpoints/         every epoch: G, D, both Adams, the noise state (+ run.json)
    logs/gan/R/                        TensorBoard (utilities.gan.tb)
A new run (no --resume) starts R afresh: its old checkpoints and TensorBoard events are removed.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from utilities.common.atomic import atomic_path
from utilities.common.run_checkpoint import ResumeError, RunCheckpoint
from utilities.digits import DatasetUnavailable
from utilities.gan.config import GanConfig, UsageError
from utilities.gan.data import GanImages, epoch_batches, load_gan_images, steps_per_epoch
from utilities.gan.grids import save_grid, tile
from utilities.gan.history import History
from utilities.gan.judge import Judge, load_or_train_judge
from utilities.gan.quality import Quality, QualityMeter
from utilities.gan.tb import GanBoard
from utilities.gan.trainer import GRID_COLUMNS, GanTrainer

STEP_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; that epoch was not saved (exit code 3)."""


@dataclass
class RunResult:
    run_dir: Path
    epochs_done: int
    quality: Quality | None
    judge: Judge
    history: History


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


def _start_afresh(config: GanConfig) -> None:
    for folder in (config.run_dir / "checkpoints", Path(config.logdir) / config.name):
        if folder.exists():
            shutil.rmtree(folder)


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


def write_final_outputs(config: GanConfig, trainer: GanTrainer, history: History, steps_per_ep: int) -> None:
    """samples.png, losses.png and generator.weights.h5 of the run as it stands."""
    epochs_done = int(history.epochs[-1]["epoch"]) if history.epochs else 0
    save_grid(trainer.grid_samples(), config.run_dir / "samples.png", GRID_COLUMNS, _title(config, epochs_done),
              row_labels=[str(d) for d in range(10)] if config.conditional else None)
    if history.epochs:
        from utilities.gan.curves import save_curves
        save_curves(history.step_arrays(steps_per_ep), history.epoch_arrays(), config.run_dir / "losses.png",
                    _title(config, epochs_done))
    with atomic_path(config.run_dir / "generator.weights.h5") as tmp:
        trainer.generator.save_weights(tmp)


def run_gan(config: GanConfig, log=None) -> RunResult:
    """Train (or continue) the run `config` describes; raises UsageError, NonFiniteLoss."""
    config.validate()
    say = log or (tqdm.write if config.progress else print)
    data = load_data(config)
    judge = load_or_train_judge(data, config.judge_dir, log=say)
    say(f"Judge: a small CNN, {100 * judge.test_accuracy:.1f}% on the {len(data.x_test)} real test digits "
        f"of {data.name} ({judge.path})")

    trainer = GanTrainer(config, data.num_classes)
    run_dir = config.run_dir
    if not config.resume:
        _start_afresh(config)
    checkpoint = RunCheckpoint(run_dir / "checkpoints", config.resume_settings(), **trainer.checkpoint_objects())
    try:
        epochs_done = checkpoint.start(config.resume)
    except ResumeError as exc:
        raise UsageError(str(exc)) from None
    history = History(run_dir, config.conditional, data.num_classes)
    if config.resume:
        history.load(epochs_done)
        say(f"Resuming {run_dir} after epoch {epochs_done}")
    meter = QualityMeter(judge.model, config.latent_dim, config.conditional, config.eval_samples, config.seed,
                         data.x_train, data.y_train, data.num_classes)
    board = GanBoard(Path(config.logdir) / config.name)
    per_epoch = steps_per_epoch(len(data.x_train), config.batch_size)
    total = config.total_epochs
    quality = None
    try:
        for epoch in range(epochs_done + 1, total + 1):
            started = time.perf_counter()
            outputs = []
            batches = epoch_batches(data.x_train, data.y_train, config.batch_size, config.seed, epoch)
            bar = tqdm(total=per_epoch, desc=f"epoch {epoch}/{total}", leave=False, disable=not config.progress,
                       unit="step")
            for real, labels in batches:
                outputs.append(trainer.train_step(real, labels))
                bar.update()
                if bar.n % 10 == 0 and config.progress:
                    bar.set_postfix(D=f"{float(outputs[-1]['d_loss']):.3f}", G=f"{float(outputs[-1]['g_loss']):.3f}")
            bar.close()
            first = history.global_step + 1
            steps = [{"step": first + i, "epoch": epoch, **{k: float(out[k]) for k in STEP_KEYS}}
                     for i, out in enumerate(outputs)]
            bad = [s["step"] for s in steps if not all(np.isfinite(s[k]) for k in STEP_KEYS)]
            if bad:
                raise NonFiniteLoss(
                    f"the losses became NaN or infinite at step {bad[0]} (epoch {epoch}); epoch {epoch} was not "
                    f"saved; lower --lr-d / --lr-g, or --resume from epoch {epoch - 1}")
            quality = meter.measure(trainer.generator)
            row = _epoch_row(epoch, steps, quality, time.perf_counter() - started)
            history.add_epoch(row, steps)
            board.write_epoch(steps, tile(trainer.grid_samples(), GRID_COLUMNS), quality)
            checkpoint.save(epoch)
            say(f"epoch {epoch}/{total}  D {row['d_loss']:.3f}  G {row['g_loss']:.3f}  "
                f"D(x) {row['d_real']:.2f}  D(G(z)) {row['d_fake']:.2f}  {quality.summary()}  "
                f"[{row['seconds']:.1f} s]")
    finally:
        board.close()
    if epochs_done >= total:
        say(f"{run_dir} already has {epochs_done} epochs (--epochs {total}); nothing to train")
    write_final_outputs(config, trainer, history, per_epoch)
    say(f"Wrote {run_dir}/samples.png, losses.png, metrics.csv, generator.weights.h5; "
        f"tensorboard --logdir {config.logdir}")
    return RunResult(run_dir, max(total, epochs_done), quality, judge, history)
