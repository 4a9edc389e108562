"""Shared by the explain-more tests: one trained shapes CNN per test session (seconds to train).

The model, the generator and the protocol are issue 4's localisation test's
(tests/test_localisation.py: 40 px images, seed-0 training, 200 held-out images at seed 1,
boxes grown by 2 px), so pointing-game rates compare side by side; cached here so every test
file of this family trains it only once.
"""
from __future__ import annotations

import functools

import numpy as np

from utilities.shapes_dataset import make_shapes, train_shapes_cnn

SIZE, HELD_OUT, HELD_OUT_SEED, TOLERANCE = 40, 200, 1, 2


@functools.lru_cache(maxsize=1)
def trained_shapes():
    """(model, images, labels, boxes): the trained CNN and held-out images it has not seen."""
    model = train_shapes_cnn(size=SIZE, seed=0)
    images, labels, boxes = make_shapes(HELD_OUT, SIZE, seed=HELD_OUT_SEED)
    return model, images, labels, boxes


def correctly_classified(count: int):
    """The first `count` held-out images the model gets right: (images, labels, boxes)."""
    model, images, labels, boxes = trained_shapes()
    right = np.flatnonzero(model.predict(images, verbose=0).argmax(axis=1) == labels)[:count]
    return images[right], labels[right], boxes[right]
