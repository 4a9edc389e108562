"""Real network, real data (issue 22 item 4): the real SqueezeNet 1.1's ImageNet features of real
Fashion-MNIST clothes, under the handout's 15 Scene protocol (N training images per class, seeded;
grayscale to three channels; L2-normalised fire9_concat averaged over space; LinearSVC(C=1)),
against the same network with seeded random weights.

Skips, with one line, where the real Fashion-MNIST (Keras' cache or the Debian package
dataset-fashion-mnist) or the real SqueezeNet weights cannot be had.
"""
from __future__ import annotations

import pytest

from tests.real_datasets import real_fashion_mnist
from utilities.features_svm import experiment

# Measured on the development machine (20 training / 20 test images per class, 227 px, seed 0):
# real weights 80.5%, seeded random weights 35.5%, raw pixels 74.0%, chance 10%.
PRETRAINED_AT_LEAST = 0.65
MARGIN_OVER_RANDOM = 0.25


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    real_fashion_mnist()   # skips where neither Keras' cache nor /usr/share/datasets/fashion-mnist has it
    return tmp_path_factory.mktemp("fashion_lists")


def _accuracy(weights: str, data_dir, out) -> float:
    result = experiment.run(experiment.Config(dataset="fashion_mnist", data_dir=data_dir, train_per_class=20,
                                              test_per_class=20, model="squeezenet", weights=weights,
                                              output_dir=out, cache=False, progress=False))
    (row,) = result.rows
    assert (row.layer, row.dim, row.C) == ("fire9_concat", 512, 1.0)
    return row.test_accuracy


@pytest.mark.slow
def test_real_squeezenet_features_of_real_clothes_beat_random_weights_and_chance(squeezenet_h5, fashion_dir,
                                                                                   tmp_path):
    pretrained = _accuracy(str(squeezenet_h5), fashion_dir, tmp_path / "pretrained")
    report = (tmp_path / "pretrained" / "report.txt").read_text()
    assert "fashion_mnist: 200 training / 200 test images, 10 classes (chance 10.0%)" in report
    assert "20 per class from its 60,000-image training split" in report
    assert pretrained >= PRETRAINED_AT_LEAST, pretrained
    random = _accuracy("random", fashion_dir, tmp_path / "random")
    assert pretrained - random >= MARGIN_OVER_RANDOM, (pretrained, random)
