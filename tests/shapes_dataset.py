"""Synthetic localisation data: a target shape and a distractor shape at random places on noise.

Used to test explanation methods honestly. The class is the target's shape (square / disk /
cross); each image also holds a distractor of a kind that is never a class (a ring by
default), of the same size range and the same brightness distribution, not touching the
target. A model-free edge detector then peaks on the distractor about as often as on the
target, so only a map that follows what the *model* uses for the class keeps pointing at
the target (see `pointing_game`). The brightness is random and the background is noise, so
neither colour nor position gives the class away. `distractor=None` gives the old one-object
images.
"""
from __future__ import annotations

import keras
import numpy as np

SHAPES = ("square", "disk", "cross")
DISTRACTORS = ("ring", "triangle")
GAP = 3
"""Empty pixels at least between the target's and the distractor's boxes (more than the
pointing game's usual 2 px tolerance, so a peak on the distractor is never a hit)."""


def _mask(shape: str, side: int) -> np.ndarray:
    yy, xx = np.mgrid[:side, :side] + 0.5 - side / 2
    radius = np.hypot(yy, xx)
    if shape == "square":
        return np.ones((side, side), bool)
    if shape == "disk":
        return radius <= side / 2
    if shape == "cross":                          # two bars through the centre
        bar = max(2, side // 3)
        return (np.abs(yy) < bar / 2) | (np.abs(xx) < bar / 2)
    if shape == "ring":                           # a disk's outline, ~1/4 of the side thick
        return (radius <= side / 2) & (radius > side / 2 - max(2, side // 4))
    if shape == "triangle":                       # apex up, base on the bottom row
        return np.abs(xx) <= (yy + side / 2) / 2
    raise ValueError(f"unknown shape '{shape}': use one of {SHAPES + DISTRACTORS}")


def _apart(a: np.ndarray, b: np.ndarray, gap: int) -> bool:
    """Whether boxes (top, left, bottom, right) are separated by at least `gap` pixels."""
    return bool(a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


def _place(rng: np.random.Generator, size: int, side: int) -> np.ndarray:
    top, left = rng.integers(0, size - side + 1, 2)
    return np.array([top, left, top + side, left + side], np.int64)


def make_shapes(n: int, size: int = 40, seed: int = 0, object_sides: tuple[int, int] = (10, 14),
                distractor: str | None = "ring"):
    """(images (n, size, size, 3) float32 in [0, 1], labels (n,), boxes (n, 4)).

    Boxes are the *target's*, (top, left, bottom, right) with bottom/right exclusive. With a
    `distractor` (a name from DISTRACTORS, or None for none), each image also holds that
    shape, drawn like the target and at least GAP pixels away from it.
    """
    return make_shapes_with_distractors(n, size, seed, object_sides, distractor)[:3]


def make_shapes_with_distractors(n: int, size: int = 40, seed: int = 0,
                                 object_sides: tuple[int, int] = (10, 14), distractor: str | None = "ring"):
    """`make_shapes` plus the distractors' boxes (n, 4) (all zero without a distractor).

    Lets a test tell a peak on the distractor from one on the background.
    """
    if distractor is not None and distractor not in DISTRACTORS:
        raise ValueError(f"distractor must be None or one of {DISTRACTORS}, got '{distractor}'")
    if distractor is not None and size < 2 * object_sides[1] + GAP:
        raise ValueError(f"size {size} is too small for two objects of side {object_sides[1]}: "
                         f"use size >= {2 * object_sides[1] + GAP} or distractor=None")
    rng = np.random.default_rng(seed)
    images = np.clip(rng.normal(0.45, 0.12, (n, size, size, 1)), 0, 1).repeat(3, axis=-1)
    labels = rng.integers(0, len(SHAPES), n)
    boxes, distractor_boxes = np.zeros((n, 4), np.int64), np.zeros((n, 4), np.int64)
    for i, label in enumerate(labels):
        side = int(rng.integers(object_sides[0], object_sides[1] + 1))
        boxes[i] = _place(rng, size, side)
        objects = [(SHAPES[label], boxes[i])]
        if distractor is not None:
            other = int(rng.integers(object_sides[0], object_sides[1] + 1))
            distractor_boxes[i] = _place(rng, size, other)
            while not _apart(boxes[i], distractor_boxes[i], GAP):  # redraw both: a central target
                boxes[i] = _place(rng, size, side)                 # may leave no room for the other
                distractor_boxes[i] = _place(rng, size, other)
            objects.append((distractor, distractor_boxes[i]))
        for shape, (top, left, bottom, right) in objects:
            images[i, top:bottom, left:right][_mask(shape, bottom - top)] = rng.uniform(0.75, 1.0, 3)
    return images.astype(np.float32), labels.astype(np.int32), boxes, distractor_boxes


def shapes_cnn(size: int = 40, classes: int = len(SHAPES)) -> keras.Model:
    """A small functional CNN whose last conv layer `last_conv` is at 1/4 resolution.

    Global *max* pooling: each class logit reads the strongest local response, so it needs
    positive evidence somewhere, at the target (see `train_shapes_cnn`). The first two conv
    layers carry the names Keras gives them in a fresh session, fixed so that reports (and
    tests) name the same layers whatever was built before.
    """
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # [0, 1] -> [-1, 1]: faster, stabler
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2d")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2d_1")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(x), name="shapes_cnn")


def train_shapes_cnn(n: int = 1200, size: int = 40, epochs: int = 8, seed: int = 0,
                     learning_rate: float = 3e-3, batch_size: int = 32,
                     distractor: str | None = "ring") -> keras.Model:
    """Seeded training of `shapes_cnn` on `make_shapes` (seconds on a CPU); returns logits model.

    One-vs-rest loss (a sigmoid per class logit): each logit must be high for its own shape
    and low otherwise on its own. With softmax cross-entropy and average pooling, the cross
    logit became a near-constant "neither square nor disk" default: 97 % accuracy, but its
    maps pointed anywhere, the distractor included (Grad-CAM on 23 % of crosses). Softmax
    of the logits still gives the class probabilities that Score-CAM and the curves use.
    """
    keras.utils.set_random_seed(seed)
    images, labels, _ = make_shapes(n, size, seed=seed, distractor=distractor)
    model = shapes_cnn(size)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    model.fit(images, keras.utils.to_categorical(labels, len(SHAPES)), batch_size=batch_size,
              epochs=epochs, verbose=0)
    return model
