"""Keras callbacks of a run: a tqdm progress bar with one line per epoch, reconstructions in TensorBoard,
and the per-epoch checkpoint hook.

Loss scalars go to TensorBoard through Keras' own `keras.callbacks.TensorBoard` (train/ and
validation/ runs: `epoch_loss` is the binary cross-entropy, `epoch_mse` the mean squared error).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from utilities.autoencoder.grids import tile_rows
from utilities.common.summary_state import summary_state_restored


class EpochProgress(keras.callbacks.Callback):
    """A bar over the steps of each epoch; at its end one line: train and test loss, seconds."""

    def __init__(self, epochs: int, steps: int, say: Callable[[str], None], enabled: bool = True):
        super().__init__()
        self.epochs, self.steps, self.say, self.enabled = epochs, steps, say, enabled
        self.bar = None
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        self.bar = tqdm(total=self.steps, desc=f"epoch {epoch + 1}/{self.epochs}", unit="step", leave=False,
                        disable=not self.enabled)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1 - self.bar.n)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()
        logs = logs or {}
        self.say(f"epoch {epoch + 1}/{self.epochs}  loss {logs.get('loss', np.nan):.4f}  "
                 f"test loss {logs.get('val_loss', np.nan):.4f}  test MSE {logs.get('val_mse', np.nan):.4f}  "
                 f"[{time.perf_counter() - self.started:.1f} s]")


class ReconstructionImages(keras.callbacks.Callback):
    """After every epoch, `reconstructions` in TensorBoard: clean images, the inputs if noisy, the outputs."""

    def __init__(self, logdir: str | Path, targets: np.ndarray, noisy_inputs: np.ndarray | None = None):
        super().__init__()
        self.logdir, self.targets, self.noisy_inputs = Path(logdir), targets, noisy_inputs
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(str(self.logdir))

    def on_epoch_end(self, epoch, logs=None):
        inputs = self.targets if self.noisy_inputs is None else self.noisy_inputs
        outputs = np.asarray(self.model(inputs, training=False))
        rows = [self.targets, outputs] if self.noisy_inputs is None else [self.targets, inputs, outputs]
        with summary_state_restored(), self.writer.as_default():   # a failed flush must not stay the default
            tf.summary.image("reconstructions", tile_rows(rows)[None, :, :, None], step=epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()


class AfterEachEpoch(keras.callbacks.Callback):
    """Calls `save(epochs_done, logs)` at the end of every epoch (after validation): the run's checkpoint."""

    def __init__(self, save: Callable[[int, dict], None]):
        super().__init__()
        self.save = save

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1, dict(logs or {}))
