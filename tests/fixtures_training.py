"""Fixtures and helpers for the training tests: a generated image dataset and a tiny AlexNet-shaped model.

Import the fixtures into a test module with `from tests.fixtures_training import *`-free
explicit imports (pytest finds fixtures imported into the module namespace).
"""
from __future__ import annotations

import glob
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

# Three colour classes: trivially separable, so "the loss falls" is a fair expectation.
CLASS_COLOURS_RGB = ((210, 50, 50), (50, 50, 210), (50, 190, 50))
NUM_CLASSES = len(CLASS_COLOURS_RGB)
TINY_SIZE = 32


@dataclass(frozen=True)
class ImageSet:
    root: Path
    train_list: Path
    val_list: Path
    train_count: int      # readable training images
    val_count: int
    corrupt: Path         # listed in train_list, not an image


def write_image_set(root: Path, *, train: int = 24, val: int = 9, seed: int = 0) -> ImageSet:
    """Small JPEG/PNG paintings of a noisy class colour, lists with relative paths, one corrupt file."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)

    def write(split: str, count: int) -> list[str]:
        lines = []
        for i in range(count):
            label = i % NUM_CLASSES
            pixels = rng.normal(CLASS_COLOURS_RGB[label], 35, size=(40 + i % 7, 48, 3))
            suffix = ".png" if i % 4 == 3 else ".jpg"
            path = images / f"{split}_{i:03d}{suffix}"
            cv2.imwrite(str(path), np.clip(pixels, 0, 255).astype(np.uint8)[..., ::-1])
            lines.append(f"images/{path.name} {label}")
        return lines

    train_lines = write("train", train)
    corrupt = images / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a complete jpeg")
    train_lines.insert(train // 2, f"images/{corrupt.name} 1")
    (root / "train.txt").write_text("\n".join(train_lines) + "\n")
    (root / "test.txt").write_text("\n".join(write("test", val)) + "\n")
    return ImageSet(root, root / "train.txt", root / "test.txt", train, val, corrupt)


@pytest.fixture(scope="session")
def image_set(tmp_path_factory) -> ImageSet:
    return write_image_set(tmp_path_factory.mktemp("wikiart_like"))


def build_tiny_model(num_classes: int = NUM_CLASSES, *, dropout: float = 0.5, seed: int = 0) -> keras.Model:
    """AlexNet's layout in miniature (conv, flatten, fc6, fc7, classifier, dropouts), seeded."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((TINY_SIZE, TINY_SIZE, 3), name="image")
    x = keras.layers.Conv2D(4, 5, strides=4, activation="relu", name="conv1")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(12, activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(dropout, name="fc6_dropout")(x)
    x = keras.layers.Dense(12, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(dropout, name="fc7_dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="classifier", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="tiny")


def tiny_preprocess(x):
    """Scale RGB 0..255 to about -1..1 (the tiny model has no mean file)."""
    return x / 127.5 - 1.0


def read_events(run_dir: Path) -> dict[str, dict[str, list[int]]]:
    """{writer subdir ('' for the run root): {tag: [steps]}} of every event file in a run."""
    found: dict[str, dict[str, list[int]]] = {}
    for sub in ("", "train", "validation"):
        tags = defaultdict(list)
        for path in sorted(glob.glob(str(Path(run_dir) / sub / "events.out.tfevents.*"))):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    tags[value.tag].append(int(event.step))
        found[sub] = dict(tags)
    return found


def read_scalars(run_dir: Path, sub: str, tag: str) -> dict[int, float]:
    """{step: value} of a scalar tag written by tf.summary (stored as a tensor)."""
    values = {}
    for path in sorted(glob.glob(str(Path(run_dir) / sub / "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[int(event.step)] = float(tf.make_ndarray(value.tensor))
    return values
