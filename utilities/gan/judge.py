"""The digit classifier that scores generated samples, trained once per data set and cached.

It learns on the real training images of the data set the GAN uses (same 32x32, [-1, 1]
layout), with a fixed seed of its own so that every GAN run of that data set is judged by the
same network. The weights are cached as `<cache>/<dataset>_v<VERSION>.weights.h5` (written
atomically); bump VERSION when the architecture or its training changes. Its accuracy on the
real test images is measured on every load and printed: it bounds what the quality numbers
can mean.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from models.gan import build_digit_classifier
from utilities.common.atomic import atomic_path
from utilities.gan.data import GanImages

VERSION = 1
SEED = 1234
EPOCHS = {"digits": 40, "mnist": 3, "mnist5k": 20}
BATCH_SIZE = 64
LEARNING_RATE = 1e-3


@dataclass
class Judge:
    """The classifier, its accuracy on the real test images, where it is cached, whether it was just trained."""

    model: keras.Model
    test_accuracy: float
    path: Path
    trained_now: bool


def judge_path(cache_dir: Path, dataset: str) -> Path:
    return Path(cache_dir) / f"{dataset}_v{VERSION}.weights.h5"


def train_judge(data: GanImages, epochs: int | None = None) -> keras.Model:
    """A fresh classifier trained on `data`'s real training images (seeded)."""
    keras.utils.set_random_seed(SEED)
    model = build_digit_classifier(data.num_classes)
    model.compile(keras.optimizers.Adam(LEARNING_RATE),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, batch_size=BATCH_SIZE, epochs=epochs or EPOCHS.get(data.name, 10),
              shuffle=True, verbose=0)
    return model


def predict_classes(model: keras.Model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Argmax class of each image."""
    return np.argmax(model.predict(images, batch_size=batch_size, verbose=0), axis=1)


def load_or_train_judge(data: GanImages, cache_dir: Path, log=print) -> Judge:
    """The cached classifier for `data.name`, trained and cached first if there is none (or it is unreadable)."""
    path = judge_path(cache_dir, data.name)
    model, trained = None, False
    if path.exists():
        model = build_digit_classifier(data.num_classes)
        try:
            model.load_weights(path)
        except (OSError, ValueError) as exc:
            log(f"{path} is unreadable ({str(exc).splitlines()[0]}); training the classifier again")
            model = None
    if model is None:
        log(f"Training the digit classifier that judges the samples (once for {data.name}; cached in {path})")
        model = train_judge(data)
        with atomic_path(path) as tmp:
            model.save_weights(tmp)
        trained = True
    accuracy = float(np.mean(predict_classes(model, data.x_test) == data.y_test))
    return Judge(model, accuracy, path, trained)
