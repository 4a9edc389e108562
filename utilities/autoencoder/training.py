"""How the autoencoder is trained: Adam and binary cross-entropy against the clean image, Keras `fit`.

The handout's recipe. `fit` runs the step as one compiled function over a tf.data pipeline that
prepares the next batch while the current one trains; bench/autoencoder_bench.py compares that
with the plain `model.fit(x, x)` of the handout. Keras' default compiles the step with XLA; on a
CPU that halved the speed of these small convolutions (the bench's `plain, no XLA` row) and its
compilation dominates short runs, so XLA is used only where a GPU is.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def default_jit_compile() -> bool:
    """XLA on a GPU, TensorFlow's own kernels on a CPU."""
    return bool(tf.config.list_physical_devices("GPU"))


def compile_autoencoder(model: keras.Model, lr: float = 1e-3, jit_compile: bool | None = None) -> keras.Model:
    """Adam(lr), binary cross-entropy loss, mean squared error as a second number."""
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.MeanSquaredError(name="mse")],
                  jit_compile=default_jit_compile() if jit_compile is None else jit_compile)
    return model
