"""Gradient descent on the pixels: L-BFGS (as Gatys et al. used) or Adam.

Both keep the pixels in 0..255: L-BFGS-B through box bounds (scipy's optimiser handles them
exactly, no clipping after the fact), Adam by clipping after each step. Each calls
`on_iteration(iteration, losses, image)` once per iteration (1-based): `losses` are the
LossTerms at the point the iteration evaluated, `image()` returns the current picture (a copy,
fetched only when asked for, so snapshots every N iterations cost nothing in between). If it
returns True the optimiser stops there (a time budget, as bench/style_transfer_bench.py uses).
"""
from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import scipy.optimize
import tensorflow as tf

from utilities.style_transfer.objective import LossTerms, StyleObjective

OnIteration = Callable[[int, LossTerms, Callable[[], np.ndarray]], bool | None]
OPTIMIZERS = ("lbfgs", "adam")
LBFGS_MEMORY = 10   # scipy's default number of stored corrections (Gatys' Caffe code also used L-BFGS)


def _ignore(*_args) -> None:
    return None


def lbfgs(objective: StyleObjective, init: np.ndarray, iterations: int,
          on_iteration: OnIteration = _ignore) -> np.ndarray:
    """Run scipy's L-BFGS-B for `iterations` iterations (line-search evaluations not counted)."""
    shape = init.shape
    last: dict = {}

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        values, gradient = objective.value_and_gradient(x.reshape(shape).astype(np.float32))
        values = values.numpy()
        last.update(x=x.copy(), terms=LossTerms(*(float(v) for v in values)))
        return float(values.sum()), gradient.numpy().astype(np.float64).ravel()

    state = {"iteration": 0}

    def callback(intermediate_result) -> None:
        x = intermediate_result.x
        terms = last["terms"] if np.array_equal(x, last["x"]) else objective.evaluate(x.reshape(shape))
        state["iteration"] += 1
        if on_iteration(state["iteration"], terms, lambda: x.reshape(shape).astype(np.float32)):
            raise StopIteration  # scipy ends the run and returns this point

    result = scipy.optimize.minimize(
        fun, init.astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 255.0), callback=callback,
        # ftol/gtol 0: run every requested iteration, as neural-style does (tolerances -1)
        options={"maxiter": iterations, "maxfun": max(15000, 4 * iterations), "ftol": 0.0, "gtol": 0.0,
                 "maxcor": LBFGS_MEMORY})
    return result.x.reshape(shape).astype(np.float32)


class AdamSteps:
    """Keras Adam on a tf.Variable picture: `step()` is one compiled update (clipped to 0..255), returning the
    [content, style, tv] losses at the point it evaluated. `adam` runs it; bench/style_transfer_bench.py times it."""

    def __init__(self, objective: StyleObjective, init: np.ndarray, learning_rate: float = 10.0):
        self.image = tf.Variable(init.astype(np.float32), name="generated_image")
        optimizer = keras.optimizers.Adam(learning_rate)
        image = self.image

        @tf.function
        def step() -> tf.Tensor:
            values, gradient = objective.value_and_gradient(image)
            optimizer.apply_gradients([(gradient, image)])
            image.assign(tf.clip_by_value(image, 0.0, 255.0))
            return values

        self.step = step


def adam(objective: StyleObjective, init: np.ndarray, iterations: int, learning_rate: float = 10.0,
         on_iteration: OnIteration = _ignore) -> np.ndarray:
    """Keras Adam on a tf.Variable picture, one compiled step per iteration, clipped to 0..255."""
    steps = AdamSteps(objective, init, learning_rate)
    for iteration in range(1, iterations + 1):
        values = steps.step().numpy()
        if on_iteration(iteration, LossTerms(*(float(v) for v in values)), lambda: steps.image.numpy().copy()):
            break
    return steps.image.numpy()


def optimise(name: str, objective: StyleObjective, init: np.ndarray, iterations: int, *,
             learning_rate: float = 10.0, on_iteration: OnIteration = _ignore) -> np.ndarray:
    """Dispatch on `name` ('lbfgs' | 'adam')."""
    if name == "lbfgs":
        return lbfgs(objective, init, iterations, on_iteration)
    if name == "adam":
        return adam(objective, init, iterations, learning_rate, on_iteration)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
