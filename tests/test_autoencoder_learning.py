"""The autoencoder really learns, on real handwriting that ships with scikit-learn (utilities.digits "digits").

Small widths (8, 16, 32) and batches of 16 keep it to seconds; seeds are fixed and the margins wide.
"""
from __future__ import annotations

import numpy as np
import pytest

from utilities.autoencoder import AutoencoderConfig
from utilities.autoencoder.comparison import binary_cross_entropy, mean_squared_error
from utilities.autoencoder.data import add_noise
from utilities.autoencoder.experiment import RunResult, apply, run_autoencoder
from utilities.digits import load_image_set

CHANCE = 0.1  # ten digits


def _train(tmp_path, epochs: int, **changes) -> RunResult:
    config = AutoencoderConfig(dataset="digits", filters="8,16,32", batch_size=16, lr=2e-3, epochs=epochs,
                               samples=450, progress=False, results_dir=tmp_path / "results",
                               logdir=tmp_path / "logs", **changes)
    return run_autoencoder(config, log=lambda line: None)


def _scores(result: RunResult) -> dict[tuple[str, str], object]:
    return {(s.method, s.inputs): s for s in result.scores}


def test_loss_falls_and_the_2d_code_separates_the_digits(tmp_path):
    result = _train(tmp_path, epochs=4)
    untrained = float(np.log(2))  # BCE per pixel of an output of 0.5 everywhere, about where training starts
    history = result.history
    assert history["loss"][0] > history["loss"][-1]
    assert history["val_loss"][-1] < 0.4 * untrained  # ~0.21 after 4 epochs
    cae = _scores(result)["CAE", "clean"]
    assert cae.latent_dim == 2
    assert cae.knn_accuracy > CHANCE + 0.25  # ~0.5: a 2-D code that keeps digits apart
    assert cae.silhouette > -0.2


@pytest.mark.slow
def test_cae_beats_pca_and_the_denoiser_beats_the_plain_cae_on_noisy_digits(tmp_path):
    plain = _train(tmp_path, epochs=10)
    scores = _scores(plain)
    cae, pca = scores["CAE", "clean"], scores["PCA", "clean"]
    assert cae.bce < 0.96 * pca.bce and cae.mse < 0.9 * pca.mse, (cae, pca)  # measured ~0.93 and ~0.83

    denoiser = _train(tmp_path, epochs=12, denoise=1.0)
    data = load_image_set("digits")
    noisy = add_noise(data.x_test, 1.0, clip=False, seed=1)  # the run's own noisy test set (seed + 1)
    plain_out = apply(plain.network.autoencoder, noisy)
    plain_bce, plain_mse = binary_cross_entropy(data.x_test, plain_out), mean_squared_error(data.x_test, plain_out)
    denoised = _scores(denoiser)["CAE", "noisy"]
    assert denoised.bce < plain_bce - 0.01 and denoised.mse < 0.9 * plain_mse, (denoised, plain_bce, plain_mse)
    assert denoised.knn_accuracy > CHANCE + 0.1, denoised  # its code still tells digits apart: not a mean image
