"""One autoencoder run from start to finish: data, network, training, comparison, outputs.

Outputs of a run named R (default cae_<dataset>, dcae_<dataset> with --denoise, _z<d> when the
code is not 2-D):
    results/autoencoder/R/summary.txt               the model summary (also printed)
    results/autoencoder/R/history.csv, losses.png   train / test BCE and MSE per epoch
    results/autoencoder/R/reconstructions.png       one test image per class: clean, noisy input (denoiser),
                                                    the CAE's output, PCA's reconstruction
    results/autoencoder/R/latent_vs_pca.png         the codes of --samples test images beside PCA's
    results/autoencoder/R/comparison.csv            CAE vs PCA numbers (utilities.autoencoder.comparison)
    results/autoencoder/R/autoencoder.weights.h5    the trained weights (models.autoencoder layout)
    results/autoencoder/R/checkpoints/              every epoch: the network, Adam's state, run.json (--resume)
    logs/autoencoder/R/                             TensorBoard: train/ and validation/ losses,
                                                    reconstructions/ the example grid every epoch

R is claimed for the run (utilities.common.run_folder): a folder that already holds a run is
refused unless --resume (continue from its newest checkpoint, same settings) or --overwrite
(its checkpoints, outputs and TensorBoard events are removed first); a second process writing
R at the same time is refused. The output folders are checked before any work
(utilities.common.output_paths). Ctrl-C raises RunInterrupted (finished epochs are kept); a
full or unwritable disk during the run raises RunFailed; both with one line.
"""
from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from models.autoencoder import ConvAutoencoder, build_autoencoder
from utilities.autoencoder.callbacks import AfterEachEpoch, EpochProgress, ReconstructionImages
from utilities.autoencoder.comparison import (
    Scores,
    compare_with_pca,
    fit_pca,
    format_scores,
    pca_reconstruct,
    write_scores,
)
from utilities.autoencoder.config import AutoencoderConfig, UsageError
from utilities.autoencoder.data import (
    add_noise,
    evaluation_subset,
    load_images,
    one_per_class,
    steps_per_epoch,
    training_pairs,
)
from utilities.autoencoder.figures import save_latent_maps, save_losses, save_reconstructions
from utilities.autoencoder.history import empty_history, read_history, write_history
from utilities.autoencoder.training import compile_autoencoder
from utilities.common.atomic import atomic_path, write_text_atomic
from utilities.common.output_paths import OutputPathError, check_output_dir, disk_full_message
from utilities.common.run_checkpoint import RUN_FILE, ResumeError, RunCheckpoint
from utilities.common.run_folder import RunFolderError, claim_run_folder
from utilities.digits import DatasetUnavailable, ImageSet
from utilities.digits.image_set import check_labels

PREDICT_BATCH = 512
CHECKPOINTS = "checkpoints"
OUTPUT_FILES = ("summary.txt", "history.csv", "losses.png", "reconstructions.png", "latent_vs_pca.png",
                "comparison.csv", "autoencoder.weights.h5")
WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


class RunInterrupted(Exception):
    """Ctrl-C; str() is one line saying what is kept and how to continue (exit code 130)."""


class RunFailed(Exception):
    """The run could not write its files (a full or read-only disk); str() is one line (exit code 1)."""


@dataclass
class RunResult:
    run_dir: Path
    history: dict[str, list[float]]
    scores: list[Scores]
    network: ConvAutoencoder
    epochs_done: int = 0


def apply(model: keras.Model, inputs: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
    """`model` on `inputs` in batches, eagerly (no `predict` function to trace for every size)."""
    return np.concatenate([np.asarray(model(inputs[i:i + batch], training=False))
                           for i in range(0, len(inputs), batch)])


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(expand_nested=True, print_fn=lambda line, line_break=True: lines.append(line))
    return "\n".join(lines)


def save_weights(model: keras.Model, dest: Path) -> None:
    """`model.save_weights` atomically, after checking the disk has room for it (OSError ENOSPC if not).

    Checked first because HDF5 failing half-way through a write (a full disk) leaves h5py objects
    that print "Exception ignored" tracebacks as they are freed; freeing them early crashed the
    interpreter. What is checked: twice the bytes of the weights and the optimizer's state, + 1 MiB.
    """
    optimizer = getattr(model, "optimizer", None)
    variables = list(model.weights) + (list(optimizer.variables) if optimizer is not None else [])
    need = 2 * sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables) + (1 << 20)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(dest.parent).free < need:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dest))
    with atomic_path(dest) as tmp:
        model.save_weights(tmp)


def _describe(config: AutoencoderConfig, dataset: str) -> str:
    kind = (f"denoising CAE (noise std {config.denoise:g}{', clipped' if config.clip else ''})"
            if config.denoise else "CAE")
    return f"{kind}, {config.latent_dim}-D code, widths {config.filters}, {dataset}"


def _pca_fit_phrase(config: AutoencoderConfig, images: int) -> str:
    return ("fitted on the training images" if config.pca_fit == "train"
            else f"fitted on the {images:,} evaluated test images")


def check_outputs(config: AutoencoderConfig) -> None:
    """--results-dir and --logdir usable (a writable folder with some free space), else UsageError."""
    try:
        check_output_dir(config.results_dir, "--results-dir")
        check_output_dir(config.logdir, "--logdir")
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None


def check_data(config: AutoencoderConfig, data: ImageSet) -> int:
    """Refuse what the data cannot give (labels, batch, PCA size) before any training; the evaluated count."""
    for split, labels in (("training", data.y_train), ("test", data.y_test)):
        try:
            check_labels(labels, len(data.class_names), f"{data.source or data.name}: the {split} images")
        except DatasetUnavailable as exc:
            raise UsageError(str(exc)) from None
    if config.batch_size > len(data.x_train):
        raise UsageError(f"--batch-size {config.batch_size} is larger than the {len(data.x_train)} training "
                         f"images of {config.dataset}; use a smaller one")
    evaluated = min(config.samples, len(data.y_test))
    fitted = len(data.x_train) if config.pca_fit == "train" else evaluated
    if config.latent_dim > min(fitted, int(np.prod(data.x_train.shape[1:]))):
        raise UsageError(f"--latent-dim {config.latent_dim}: PCA {_pca_fit_phrase(config, evaluated)} has at most "
                         f"{min(fitted, int(np.prod(data.x_train.shape[1:])))} components; use a smaller code")
    return evaluated


def run_autoencoder(config: AutoencoderConfig, log: Callable[[str], None] | None = None) -> RunResult:
    """Train (or continue) the autoencoder `config` describes and write its outputs.

    Raises UsageError (bad flags, data, output folders, a run folder that is taken or holds a
    run), RunInterrupted (Ctrl-C) and RunFailed (the disk filled up or became unwritable).
    """
    config.validate()
    say = log or (tqdm.write if config.progress else print)
    check_outputs(config)
    data = load_images(config.dataset, config.data_dir)
    check_data(config, data)
    try:
        with claim_run_folder(config.run_dir, resume=config.resume, overwrite=config.overwrite, flag="--run-name"):
            return _run(config, data, say)
    except RunFolderError as exc:
        raise UsageError(str(exc)) from None


def checkpointed_epochs(folder: Path) -> int:
    """The epochs of the newest checkpoint in `folder` (checkpoint N holds N epochs), 0 if none.

    Read from the disk, not from RunCheckpoint's epoch counter: a save that failed has set it already.
    """
    latest = tf.train.latest_checkpoint(str(folder)) if Path(folder).is_dir() else None
    return int(latest.rsplit("-", 1)[-1]) if latest else 0


def _write_failure(exc: BaseException, where: Path, epochs_done: int) -> RunFailed | None:
    """RunFailed for an error that means the disk is full or unwritable, else None (a bug: let it show)."""
    kept = (f"; {epochs_done} finished epoch{'s' if epochs_done != 1 else ''} {'are' if epochs_done != 1 else 'is'} "
            "checkpointed: add --resume to continue" if epochs_done
            else "; no epoch had finished")
    if isinstance(exc, OSError):
        if (message := disk_full_message(exc, where)) is not None:
            return RunFailed(message + kept)
        if exc.errno in WRITE_ERRNOS:
            return RunFailed(f"cannot write {exc.filename or where} ({exc.strerror}){kept}")
    elif isinstance(exc, tf.errors.OpError):  # TensorFlow's own writers (checkpoints) say it this way
        text = str(exc)
        for code in (errno.ENOSPC, errno.EDQUOT):
            if os.strerror(code) in text:
                return RunFailed(disk_full_message(OSError(code, os.strerror(code)), where) + kept)
        for code in WRITE_ERRNOS:
            if os.strerror(code) in text:
                return RunFailed(f"cannot write in {where} ({os.strerror(code)}){kept}")
    return None


def _start_afresh(config: AutoencoderConfig, say: Callable[[str], None]) -> None:
    """--overwrite: remove what an earlier run of this name left (its checkpoints, outputs, TensorBoard events)."""
    removed = []
    for name in OUTPUT_FILES:
        if (config.run_dir / name).exists():
            (config.run_dir / name).unlink()
            removed.append(name)
    for folder in (config.run_dir / CHECKPOINTS, config.run_logdir):
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(str(folder))
    if removed and config.overwrite:
        say(f"--overwrite: removed the earlier run's {', '.join(removed)}")


def _start_checkpoint(config: AutoencoderConfig, checkpoint: RunCheckpoint, say: Callable[[str], None]) -> int:
    """Epochs already done (0 for a new run); UsageError when --resume cannot continue."""
    if not config.resume:
        return checkpoint.start(resume=False)
    if checkpoint.manager.latest_checkpoint is None:
        if (checkpoint.directory / RUN_FILE).exists():  # started, interrupted before its first epoch ended
            say(f"--resume: {config.run_dir} has no finished epoch yet; starting it from epoch 1")
            return checkpoint.start(resume=False)
        raise UsageError(f"--resume: no checkpoint in {checkpoint.directory}; --overwrite starts the run over, "
                         "or choose another --run-name")
    try:
        return checkpoint.start(resume=True)
    except ResumeError as exc:
        raise UsageError(str(exc)) from None


def _run(config: AutoencoderConfig, data: ImageSet, say: Callable[[str], None]) -> RunResult:
    """Start or continue the run in its (claimed) folder; Ctrl-C and write failures become one line."""
    try:
        return _start_and_train(config, data, say)
    except KeyboardInterrupt:
        done = checkpointed_epochs(config.run_dir / CHECKPOINTS)
        state = (f"{done} of {config.total_epochs} epochs are checkpointed in {config.run_dir / CHECKPOINTS}"
                 if done else "no epoch had finished")
        raise RunInterrupted(f"interrupted; {state}: the same command with --resume continues") from None
    except (OSError, tf.errors.OpError) as exc:
        failure = _write_failure(exc, config.run_dir, checkpointed_epochs(config.run_dir / CHECKPOINTS))
        if failure is None:
            raise
        raise failure from None


def _start_and_train(config: AutoencoderConfig, data: ImageSet, say: Callable[[str], None]) -> RunResult:
    run_dir, total = config.run_dir, config.total_epochs
    if not config.resume:
        _start_afresh(config, say)
    keras.utils.set_random_seed(config.seed)
    net = build_autoencoder(data.x_train.shape[1:], config.widths, config.latent_dim, config.pools,
                            None if config.code_activation == "linear" else config.code_activation)
    compile_autoencoder(net.autoencoder, config.lr)
    net.autoencoder.optimizer.build(net.autoencoder.trainable_variables)  # its slots exist for a restore
    checkpoint = RunCheckpoint(run_dir / CHECKPOINTS, config.resume_settings(len(data.x_train)),
                               restart_hint="--overwrite to start it over, or another --run-name",
                               model=net.autoencoder, optimizer=net.autoencoder.optimizer)
    epochs_done = _start_checkpoint(config, checkpoint, say)
    summary = model_summary(net.autoencoder)
    say(summary)
    write_text_atomic(run_dir / "summary.txt", summary + "\n")
    history = empty_history()
    if epochs_done:
        history, missing = read_history(run_dir / "history.csv", epochs_done)
        say(f"Resuming {run_dir} after epoch {epochs_done} of {total}"
            + (f" ({missing} epochs missing from history.csv, left blank)" if missing else ""))
    _train(config, data, net, checkpoint, history, epochs_done, say)
    return _evaluate(config, data, net, history, say)


def _train(config: AutoencoderConfig, data: ImageSet, net: ConvAutoencoder, checkpoint: RunCheckpoint,
           history: dict[str, list[float]], epochs_done: int, say: Callable[[str], None]) -> None:
    """The epochs after `epochs_done`, each one ending with history.csv and a checkpoint."""
    total, run_dir = config.total_epochs, config.run_dir
    if epochs_done >= total:
        say(f"{run_dir} already has {epochs_done} epochs (--epochs {total}); nothing to train")
        return
    std, clip = config.noise_std, config.clip
    x_test = data.x_test
    test_inputs = add_noise(x_test, std, clip, seed=config.seed + 1) if std else x_test
    examples = one_per_class(data.y_test)

    def save(epoch: int, logs: dict) -> None:
        for key, values in history.items():
            del values[epoch - 1:]
            values.append(float(logs.get(key, np.nan)))
        write_history(history, run_dir / "history.csv")   # first: it must hold every checkpointed epoch
        checkpoint.save(epoch)

    steps = steps_per_epoch(len(data.x_train), config.batch_size)
    callbacks = [
        keras.callbacks.TensorBoard(str(config.run_logdir), write_graph=False),
        ReconstructionImages(config.run_logdir / "reconstructions", x_test[examples],
                             test_inputs[examples] if std else None),
        AfterEachEpoch(save),
        EpochProgress(total, steps, say, enabled=config.progress),
    ]
    say(f"Training a {_describe(config, data.name)}: {len(data.x_train)} training, {len(x_test)} test images"
        + (f", epochs {epochs_done + 1}-{total}" if epochs_done else ""))
    pairs = training_pairs(data.x_train, config.batch_size, config.seed, std, clip, first_epoch=epochs_done,
                           epochs=total - epochs_done)
    net.autoencoder.fit(pairs, epochs=total, initial_epoch=epochs_done, steps_per_epoch=steps,
                        validation_data=(test_inputs, x_test), batch_size=config.batch_size,
                        shuffle=False, callbacks=callbacks, verbose=0)


def _evaluate(config: AutoencoderConfig, data: ImageSet, net: ConvAutoencoder, history: dict[str, list[float]],
              say: Callable[[str], None]) -> RunResult:
    """The figures, the CAE-vs-PCA table and the weights of the trained network."""
    run_dir, std, clip = config.run_dir, config.noise_std, config.clip
    x_test, y_test = data.x_test, data.y_test
    test_inputs = add_noise(x_test, std, clip, seed=config.seed + 1) if std else x_test
    examples = one_per_class(y_test)
    title = _describe(config, data.name)
    save_losses(history, run_dir / "losses.png", title)
    save_weights(net.autoencoder, run_dir / "autoencoder.weights.h5")

    pick = evaluation_subset(config.samples, y_test, config.seed)
    if len(pick) < config.samples:
        say(f"--samples {config.samples}: the test set of {data.name} has {len(pick)} images; using all of them")
    inputs = {"clean": x_test[pick]} | ({"noisy": test_inputs[pick]} if std else {})
    fitted = _pca_fit_phrase(config, len(pick))
    pca = fit_pca(data.x_train if config.pca_fit == "train" else x_test[pick], config.latent_dim, config.seed)
    results = compare_with_pca(lambda x: apply(net.encoder, x), lambda z: apply(net.decoder, z), pca,
                               data.x_train, data.y_train, x_test[pick], y_test[pick], inputs, config.seed,
                               pca_fitted_on=config.pca_fit)
    scores = [result.scores for result in results.values()]
    write_scores(scores, run_dir / "comparison.csv")
    say(f"CAE vs PCA({config.latent_dim}) on {len(pick):,} test images; PCA {fitted} (--pca-fit {config.pca_fit})")
    say(format_scores(scores))

    kind = "noisy" if std else "clean"
    grid_rows = {"test image": x_test[examples]} | ({"noisy input": test_inputs[examples]} if std else {})
    grid_rows["CAE"] = apply(net.autoencoder, test_inputs[examples])
    grid_rows[f"PCA ({config.latent_dim})"] = pca_reconstruct(pca, test_inputs[examples])
    save_reconstructions(grid_rows, run_dir / "reconstructions.png", f"{title}; PCA {fitted}",
                         [data.class_names[c] for c in y_test[examples]])
    pca_name = "PCA" + (f", components 1-2 of {config.latent_dim}" if config.latent_dim > 2 else "")
    save_latent_maps({f"CAE code ({kind} inputs)": results["CAE", kind].codes,
                      f"{pca_name} ({kind} inputs; {fitted})": results["PCA", kind].codes[:, :2]},
                     y_test[pick], data.class_names, run_dir / "latent_vs_pca.png",
                     f"{title}: {len(pick)} test images")
    say(f"Wrote {run_dir}/summary.txt, history.csv, losses.png, reconstructions.png, latent_vs_pca.png, "
        f"comparison.csv, autoencoder.weights.h5, checkpoints/; tensorboard --logdir {config.logdir}")
    return RunResult(run_dir, history, scores, net, len(history["loss"]))
