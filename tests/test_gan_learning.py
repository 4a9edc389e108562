"""The GANs really learn on real handwriting (scikit-learn's digits), judged by the test judge classifier.

Short runs of the real tool (`run_gan`) with small networks: width 16, z of 32, batch 32,
Adam 5e-4; 7 epochs = 294 steps for the cDCGAN, 8 = 336 for the DCGAN (it leaves its collapsed
start later). Chance is 10 % for the conditional accuracy; a collapsed generator has a class
entropy near 0 bits (all ten digits equally often: 3.32). Seeded; the thresholds leave wide
margins below what these runs reach (about 85-95 % and 3.0 bits).
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.gan_judge import judge_dir
from utilities.gan import GanConfig
from utilities.gan.experiment import run_gan

SHORT = dict(width=16, latent_dim=32, batch_size=32, lr_g=5e-4, lr_d=5e-4, eval_samples=500, progress=False)
EPOCHS = {"cdcgan": 7, "dcgan": 8}


def _short_run(tmp_path, model):
    config = GanConfig(model=model, dataset="digits", results_dir=tmp_path / "results", logdir=tmp_path / "logs",
                       classifier_dir=judge_dir(), epochs=EPOCHS[model], **SHORT)
    return run_gan(config, log=lambda _: None)


@pytest.mark.slow
def test_cdcgan_draws_the_digit_it_is_asked_for(tmp_path):
    result = _short_run(tmp_path, "cdcgan")
    quality = result.quality
    per_digit = quality.class_accuracy
    assert quality.accuracy >= 0.5, per_digit                  # chance: 0.1
    assert np.sum(per_digit >= 0.3) >= 7, per_digit            # most digits, each 3x chance
    assert quality.entropy_bits > 2.5 and quality.diversity > 0.3, quality
    first = result.history.epochs[0]
    assert first["accuracy"] < quality.accuracy                 # it is the training that did it


@pytest.mark.slow
def test_dcgan_samples_are_not_collapsed_to_one_digit(tmp_path):
    quality = _short_run(tmp_path, "dcgan").quality
    assert quality.entropy_bits > 2.0, quality.histogram        # collapse: ~0 bits; uniform: 3.32
    assert np.sum(quality.histogram >= 0.03) >= 7, quality.histogram
    assert quality.diversity > 0.3, quality
