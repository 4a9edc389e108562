"""Transfer learning pays on real images: assignment_3a.py --model squeezenet on real Fashion-MNIST.

A small real export (`python -m utilities.digits.export`, the real Fashion-MNIST from the Debian
package or Keras' cache) is fine-tuned three times with the same settings and train layers (the
classifier + fire9, the frozen fire modules cached): from the real SqueezeNet 1.1 ImageNet weights
(`squeezenet_h5`), from `--weights random` (Keras' initialisation, what the assignment compares
with), and from seeded He-scaled random weights written in the real file's format (a network that
learned nothing, with activations of a sane scale). The pretrained network must beat both by a
margin measured here with room; the third run shows that the test fails when the real file is
replaced by random weights. Skips with one line when the data or the weights cannot be had.
"""
from __future__ import annotations

import gc
import json

import keras
import pytest

import assignment_3a
from tests.real_datasets import real_fashion_mnist
from tests.real_weights import synthetic_squeezenet_arrays, write_squeezenet_h5
from utilities.digits.export import write_export

TRAIN_PER_CLASS, TEST_PER_CLASS, EPOCHS = 10, 10, 4
# Measured on the 2-core development machine (seed 0), validation accuracy after 4 epochs: pretrained 0.48,
# --weights random 0.10 (chance), He-scaled random weights in the real format 0.07. The guard asks for about
# half the measured gap.
MARGIN = 0.2


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def final_accuracy(export, tmp_path, weights, name: str) -> float:
    code = assignment_3a.main([
        "--model", "squeezenet", "--weights", str(weights), "--train-list", str(export / "train.txt"),
        "--val-list", str(export / "test.txt"), "--num-classes", "10", "--epochs", str(EPOCHS),
        "--batch-size", "20", "--seed", "0", "--explain-every", "0", "--logdir", str(tmp_path / "logs"),
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--run-name", name, "--no-progress"])
    assert code == 0, name
    history = json.loads((tmp_path / "ckpt" / name / "run.json").read_text())["history"]
    return history[-1]["val_accuracy"]


@pytest.mark.slow
def test_pretrained_squeezenet_beats_random_init_on_real_fashion_mnist(tmp_path, squeezenet_h5, capsys):
    export = tmp_path / "fashion"
    write_export(real_fashion_mnist(), export, train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS)
    pretrained = final_accuracy(export, tmp_path, squeezenet_h5, "pretrained")
    random_init = final_accuracy(export, tmp_path, "random", "random")
    he_random = final_accuracy(export, tmp_path, write_squeezenet_h5(tmp_path / "random.h5",
                                                                     synthetic_squeezenet_arrays(0)), "he_random")
    print(f"validation accuracy after {EPOCHS} epochs: pretrained {pretrained:.3f}, --weights random "
          f"{random_init:.3f}, He-scaled random weights in the real format {he_random:.3f}")
    assert pretrained >= random_init + MARGIN, (pretrained, random_init)
    # the same check fails when the weight file holds random weights instead of ImageNet's
    assert he_random < random_init + MARGIN, (he_random, random_init)
