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
    logs/autoencoder/R/                             TensorBoard: train/ and validation/ losses,
                                                    reconstructions/ the example grid every epoch
A run starts R afresh: its old TensorBoard events are removed.
"""
from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from models.autoencoder import ConvAutoencoder, build_autoencoder
from utilities.autoencoder.callbacks import EpochProgress, ReconstructionImages
from utilities.autoencoder.comparison import (
    Scores,
    compare_with_pca,
    fit_pca,
    format_scores,
    pca_reconstruct,
    write_scores,
)
from utilities.autoencoder.config import AutoencoderConfig, UsageError
from utilities.autoencoder.data import add_noise, evaluation_subset, load_images, one_per_class, training_pairs
from utilities.autoencoder.figures import save_latent_maps, save_losses, save_reconstructions
from utilities.autoencoder.training import compile_autoencoder
from utilities.common.atomic import atomic_path, write_text_atomic

PREDICT_BATCH = 512


@dataclass
class RunResult:
    run_dir: Path
    history: dict[str, list[float]]
    scores: list[Scores]
    network: ConvAutoencoder


def apply(model: keras.Model, inputs: np.ndarray, batch: int = PREDICT_BATCH) -> np.ndarray:
    """`model` on `inputs` in batches, eagerly (no `predict` function to trace for every size)."""
    return np.concatenate([np.asarray(model(inputs[i:i + batch], training=False))
                           for i in range(0, len(inputs), batch)])


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(expand_nested=True, print_fn=lambda line, line_break=True: lines.append(line))
    return "\n".join(lines)


def _write_history(history: dict[str, list[float]], dest: Path) -> None:
    keys = ("loss", "val_loss", "mse", "val_mse")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", "train_bce", "test_bce", "train_mse", "test_mse"])
    for epoch, values in enumerate(zip(*(history[k] for k in keys), strict=True), start=1):
        writer.writerow([epoch, *(f"{v:.6g}" for v in values)])
    write_text_atomic(dest, out.getvalue())


def _describe(config: AutoencoderConfig, dataset: str) -> str:
    kind = (f"denoising CAE (noise std {config.denoise:g}{', clipped' if config.clip else ''})"
            if config.denoise else "CAE")
    return f"{kind}, {config.latent_dim}-D code, widths {config.filters}, {dataset}"


def run_autoencoder(config: AutoencoderConfig, log=None) -> RunResult:
    """Train the autoencoder `config` describes and write its outputs; raises UsageError."""
    config.validate()
    say = log or (tqdm.write if config.progress else print)
    data = load_images(config.dataset, config.data_dir)
    if config.batch_size > len(data.x_train):
        raise UsageError(f"--batch-size {config.batch_size} is larger than the {len(data.x_train)} training "
                         f"images of {config.dataset}; use a smaller one")
    keras.utils.set_random_seed(config.seed)
    net = build_autoencoder(data.x_train.shape[1:], config.widths, config.latent_dim, config.pools,
                            None if config.code_activation == "linear" else config.code_activation)
    summary = model_summary(net.autoencoder)
    say(summary)
    run_dir = config.run_dir
    write_text_atomic(run_dir / "summary.txt", summary + "\n")
    compile_autoencoder(net.autoencoder, config.lr)

    std, clip = config.noise_std, config.clip
    x_test, y_test = data.x_test, data.y_test
    test_inputs = add_noise(x_test, std, clip, seed=config.seed + 1) if std else x_test
    examples = one_per_class(y_test)
    if config.run_logdir.exists():
        shutil.rmtree(config.run_logdir)
    steps = -(-len(data.x_train) // config.batch_size)
    callbacks = [
        keras.callbacks.TensorBoard(str(config.run_logdir), write_graph=False),
        ReconstructionImages(config.run_logdir / "reconstructions", x_test[examples],
                             test_inputs[examples] if std else None),
        EpochProgress(config.total_epochs, steps, say, enabled=config.progress),
    ]
    say(f"Training a {_describe(config, data.name)}: {len(data.x_train)} training, {len(x_test)} test images")
    fit = net.autoencoder.fit(training_pairs(data.x_train, config.batch_size, config.seed, std, clip),
                              epochs=config.total_epochs, validation_data=(test_inputs, x_test),
                              batch_size=config.batch_size, shuffle=False, callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    _write_history(history, run_dir / "history.csv")
    title = _describe(config, data.name)
    save_losses(history, run_dir / "losses.png", title)
    with atomic_path(run_dir / "autoencoder.weights.h5") as tmp:
        net.autoencoder.save_weights(tmp)

    pick = evaluation_subset(config.samples, y_test, config.seed)
    if len(pick) < config.samples:
        say(f"--samples {config.samples}: the test set of {data.name} has {len(pick)} images; using all of them")
    inputs = {"clean": x_test[pick]} | ({"noisy": test_inputs[pick]} if std else {})
    pca = fit_pca(data.x_train, config.latent_dim, config.seed)
    results = compare_with_pca(lambda x: apply(net.encoder, x), lambda z: apply(net.decoder, z), pca,
                               data.x_train, data.y_train, x_test[pick], y_test[pick], inputs, config.seed)
    scores = [result.scores for result in results.values()]
    write_scores(scores, run_dir / "comparison.csv")
    say(format_scores(scores))

    kind = "noisy" if std else "clean"
    grid_rows = {"test image": x_test[examples]} | ({"noisy input": test_inputs[examples]} if std else {})
    grid_rows["CAE"] = apply(net.autoencoder, test_inputs[examples])
    grid_rows[f"PCA ({config.latent_dim})"] = pca_reconstruct(pca, test_inputs[examples])
    save_reconstructions(grid_rows, run_dir / "reconstructions.png", title,
                         [data.class_names[c] for c in y_test[examples]])
    pca_name = "PCA" + (f", components 1-2 of {config.latent_dim}" if config.latent_dim > 2 else "")
    save_latent_maps({f"CAE code ({kind} inputs)": results["CAE", kind].codes,
                      f"{pca_name} ({kind} inputs)": results["PCA", kind].codes[:, :2]},
                     y_test[pick], data.class_names, run_dir / "latent_vs_pca.png",
                     f"{title}: {len(pick)} test images")
    say(f"Wrote {run_dir}/summary.txt, history.csv, losses.png, reconstructions.png, latent_vs_pca.png, "
        f"comparison.csv, autoencoder.weights.h5; tensorboard --logdir {config.logdir}")
    return RunResult(run_dir, history, scores, net)
