"""Synthetic localisation data: one shape at a random place, the class is the shape.

Used to test explanation methods honestly: a small CNN trained on these images can only be
right by looking at the object, so a good map must peak on it (see `pointing_game`). The
object's brightness is random and the background is noise, so neither colour nor position
gives the class away.
"""
from __future__ import annotations

import keras
import numpy as np

SHAPES = ("square", "disk", "cross")


def _mask(shape: str, side: int) -> np.ndarray:
    yy, xx = np.mgrid[:side, :side] + 0.5 - side / 2
    if shape == "square":
        return np.ones((side, side), bool)
    if shape == "disk":
        return yy ** 2 + xx ** 2 <= (side / 2) ** 2
    bar = max(2, side // 3)                       # cross: two bars through the centre
    return (np.abs(yy) < bar / 2) | (np.abs(xx) < bar / 2)


def make_shapes(n: int, size: int = 40, seed: int = 0, object_sides: tuple[int, int] = (10, 14)):
    """(images (n, size, size, 3) float32 in [0, 1], labels (n,), boxes (n, 4)).

    Boxes are (top, left, bottom, right) with bottom/right exclusive.
    """
    rng = np.random.default_rng(seed)
    images = np.clip(rng.normal(0.45, 0.12, (n, size, size, 1)), 0, 1).repeat(3, axis=-1)
    labels = rng.integers(0, len(SHAPES), n)
    boxes = np.zeros((n, 4), np.int64)
    for i, label in enumerate(labels):
        side = int(rng.integers(object_sides[0], object_sides[1] + 1))
        top, left = rng.integers(0, size - side + 1, 2)
        mask = _mask(SHAPES[label], side)
        colour = rng.uniform(0.75, 1.0, 3)
        images[i, top:top + side, left:left + side][mask] = colour
        boxes[i] = top, left, top + side, left + side
    return images.astype(np.float32), labels.astype(np.int32), boxes


def shapes_cnn(size: int = 40, classes: int = len(SHAPES)) -> keras.Model:
    """A small functional CNN whose last conv layer `last_conv` is at 1/4 resolution."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # [0, 1] -> [-1, 1]: faster, stabler
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(x), name="shapes_cnn")


def train_shapes_cnn(n: int = 1200, size: int = 40, epochs: int = 8, seed: int = 0,
                     learning_rate: float = 3e-3, batch_size: int = 32) -> keras.Model:
    """Seeded training of `shapes_cnn` on `make_shapes` (seconds on a CPU); returns logits model."""
    keras.utils.set_random_seed(seed)
    images, labels, _ = make_shapes(n, size, seed=seed)
    model = shapes_cnn(size)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(images, labels, batch_size=batch_size, epochs=epochs, verbose=0)
    return model
