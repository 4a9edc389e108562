"""TensorBoard output of a GAN run, in `<logdir>/<run name>/`.

Every step: `loss/discriminator`, `loss/generator`, `D(x)/real`, `D(G(z))/fake`. Every epoch
(at its last step): `samples` (the fixed-noise grid, so the evolution shows on the Images
tab's step slider), `quality/entropy_bits`, `quality/diversity` and, for the cDCGAN, `quality/accuracy`.
Per-step values are written at the end of each epoch from the values the steps returned, so
the training loop never waits for the host.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from utilities.common.summary_state import summary_state_restored
from utilities.gan.quality import Quality

STEP_TAGS = {"d_loss": "loss/discriminator", "g_loss": "loss/generator", "d_real": "D(x)/real",
             "d_fake": "D(G(z))/fake"}


class GanBoard:
    """One summary writer for the run."""

    def __init__(self, logdir: Path):
        self.writer = tf.summary.create_file_writer(str(logdir))

    def write_epoch(self, step_rows: list[dict[str, float]], grid: np.ndarray, quality: Quality) -> None:
        """`grid`: the tiled fixed-noise samples in [0, 1], shape (H, W)."""
        with summary_state_restored(), self.writer.as_default():   # a failed flush must not stay the default
            for row in step_rows:
                for key, tag in STEP_TAGS.items():
                    tf.summary.scalar(tag, row[key], step=int(row["step"]))
            step = int(step_rows[-1]["step"])
            tf.summary.image("samples", grid[None, :, :, None], step=step)
            tf.summary.scalar("quality/entropy_bits", quality.entropy_bits, step=step)
            tf.summary.scalar("quality/diversity", quality.diversity, step=step)
            if quality.accuracy is not None:
                tf.summary.scalar("quality/accuracy", quality.accuracy, step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
