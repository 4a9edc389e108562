"""How the autoencoder is trained: Adam and binary cross-entropy against the clean image, Keras `fit`.

The handout's recipe. `fit` runs the step as one compiled (XLA where it can) function over a
tf.data pipeline that prepares the next batch while the current one trains; bench/
autoencoder_bench.py compares that with the plain `model.fit(x, x)` of the handout.
"""
from __future__ import annotations

import keras


def compile_autoencoder(model: keras.Model, lr: float = 1e-3, jit_compile: bool | str = "auto") -> keras.Model:
    """Adam(lr), binary cross-entropy loss, mean squared error as a second number."""
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.MeanSquaredError(name="mse")], jit_compile=jit_compile)
    return model
