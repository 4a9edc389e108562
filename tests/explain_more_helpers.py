"""Shared by the localisation and explain-more tests: one trained shapes CNN per test session.

The model, the generator and the protocol are issue 4's localisation test's
(tests/test_localisation.py: 40 px images with a target shape and a ring distractor,
seed-0 training, 200 held-out images at seed 1, boxes grown by 2 px), so pointing-game rates
compare side by side; cached here (and exposed as the session fixture `shapes_task` in
conftest.py) so the whole session trains it only once.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import keras
import numpy as np

from utilities.shapes_dataset import make_shapes_with_distractors, train_shapes_cnn

SIZE, HELD_OUT, HELD_OUT_SEED, TOLERANCE = 40, 200, 1, 2

# The pointing-game bars of both test files. A model-based map must hit the target's box in
# at least MODEL_BASED_MIN of the images (and 4x chance) and beat the model-free edge map by
# MARGIN_OVER_EDGES; the edge map, drawn to the distractor about half the time, must stay
# under EDGES_MAX (it scored 100% before the distractor: the test could not tell them apart).
MODEL_BASED_MIN, MARGIN_OVER_EDGES, EDGES_MAX = 0.75, 0.25, 0.6


@dataclass(frozen=True)
class ShapesTask:
    """The trained CNN and held-out images it has not seen, with the target's and distractor's boxes."""

    model: keras.Model
    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    distractor_boxes: np.ndarray


@functools.lru_cache(maxsize=1)
def shapes_task() -> ShapesTask:
    model = train_shapes_cnn(size=SIZE, seed=0)
    return ShapesTask(model, *make_shapes_with_distractors(HELD_OUT, SIZE, seed=HELD_OUT_SEED))


def trained_shapes():
    """(model, images, labels, boxes): the trained CNN and held-out images it has not seen."""
    task = shapes_task()
    return task.model, task.images, task.labels, task.boxes


def correctly_classified(count: int):
    """The first `count` held-out images the model gets right: (images, labels, boxes)."""
    model, images, labels, boxes = trained_shapes()
    right = np.flatnonzero(model.predict(images, verbose=0).argmax(axis=1) == labels)[:count]
    return images[right], labels[right], boxes[right]
