"""The trained shapes CNN that the explanation tests explain, and its held-out images.

The generator and the protocol are the localisation test's (tests/test_localisation.py:
40 px images with a target shape and a ring distractor, 200 held-out images at seed 1,
boxes grown by 2 px), so pointing-game rates compare side by side. The weights are shipped
(tests/fixtures/shapes_cnn.weights.h5, made by tests/fixtures/make_shapes_cnn.py): every
machine explains the same model, whatever its thread count does to training.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tests.shapes_dataset import make_shapes_with_distractors, shapes_cnn
from utilities.explain.metrics.pointing_game import PointingResult

SIZE, HELD_OUT, HELD_OUT_SEED, TOLERANCE = 40, 200, 1, 2
WEIGHTS = Path(__file__).with_name("fixtures") / "shapes_cnn.weights.h5"

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
    model = shapes_cnn(SIZE)
    model.load_weights(WEIGHTS)
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


def rates_table(results: Mapping[str, PointingResult]) -> str:
    """One line per method, side by side: what the localisation tests print."""
    width = max(map(len, results), default=0)
    return "\n".join(f"{name:{width}s}  {result}" for name, result in results.items())
