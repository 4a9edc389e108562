"""A torchvision checkpoint given to a program brings torchvision's preprocessing with it, everywhere.

The models can read .pth files (tests/test_torchvision_models.py); these tests check that the
programs then feed them RGB/255 normalised by the ImageNet mean and std, not the caffe input of
the Keras/Caffe files: style transfer's extractor and preset, features + SVM's extractor, 3a's
data, explanations and records. The file is the committed random SqueezeNet 1.1 fixture.
"""
from __future__ import annotations

import lzma
from pathlib import Path

import numpy as np
import pytest

import models
from models.preprocessing import torch_normalize

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "torch" / "squeezenet1_1_random.zip.pth.xz"


@pytest.fixture(scope="module")
def squeezenet_pth(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pth") / "squeezenet1_1-random.pth"
    path.write_bytes(lzma.decompress(FIXTURE.read_bytes()))
    return path


def test_spec_follows_the_file(squeezenet_pth):
    assert models.get_spec("squeezenet", squeezenet_pth).preprocessing == "torch"
    assert models.get_spec("squeezenet", "imagenet").preprocessing == "caffe"
    assert models.get_spec("squeezenet", "imagenet-torch").input_size == 224


def test_style_transfer_extractor_and_preset(squeezenet_pth):
    from utilities.style_transfer.features import feature_network
    from utilities.style_transfer.presets import preset_for

    network = feature_network("squeezenet", str(squeezenet_pth), "fire2_concat", ["conv1", "fire3_concat"])
    assert network.preprocess is torch_normalize
    exact = preset_for("squeezenet", str(squeezenet_pth))
    assert (exact.content_weight, exact.style_weights, exact.tv_weight) == (5e-2, (20000.0, 500.0, 12.0, 1.0), 5e-2)
    assert preset_for("squeezenet", "imagenet-torch") == exact
    converted = preset_for("squeezenet", "imagenet")
    assert converted.content_weight < 1e-3 and converted == preset_for("squeezenet")   # caffe pixels


def test_features_svm_extractor(squeezenet_pth):
    from utilities.features_svm import experiment

    config = experiment.with_model_defaults(experiment.Config(model="squeezenet", weights=str(squeezenet_pth)))
    extractor, _ = experiment.Network(config, str(squeezenet_pth)).extractor("fire9_concat", 64)
    assert extractor.preprocess is torch_normalize


def test_finetune_uses_and_records_torch_preprocessing(squeezenet_pth, tmp_path):
    from utilities.finetune.experiment import Experiment, ExperimentConfig

    image = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    for name in ("train.txt", "test.txt"):
        (tmp_path / name).write_text("a.png 0\na.png 1\n")
    config = ExperimentConfig(model="squeezenet", weights=str(squeezenet_pth), remove_fc=1, num_classes=2,
                              train_list=str(tmp_path / "train.txt"), val_list=str(tmp_path / "test.txt"),
                              logdir=str(tmp_path / "logs"), checkpoint_dir=str(tmp_path / "ckpt"))
    experiment = Experiment(config)
    assert experiment._hparams(["classifier"])["preprocessing"] == "torch"
