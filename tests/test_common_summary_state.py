"""tf.summary's default writer survives a writer that fails to flush (a full disk)."""
from __future__ import annotations

import pytest
import tensorflow as tf

from utilities.common.summary_state import summary_state_restored


class FailingFlush:
    """A writer whose flush fails, as a file writer's does on a full disk."""

    def __init__(self):
        self.inner = tf.summary.create_noop_writer()

    def as_default(self, step=None):
        from tensorflow.python.ops.summary_ops_v2 import _SummaryContextManager

        return _SummaryContextManager(self, step)

    def flush(self):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")


def _default_writer():
    from tensorflow.python.ops.summary_ops_v2 import _summary_state

    return _summary_state.writer


def test_the_default_writer_and_step_are_put_back():
    # Without the guard the failing writer stays the default: as_default's exit flushes before restoring.
    before_writer, before_step = _default_writer(), tf.summary.experimental.get_step()
    failing = FailingFlush()
    with pytest.raises(tf.errors.ResourceExhaustedError):
        with summary_state_restored():
            with failing.as_default(step=7):
                raise OSError(28, "No space left on device")
    assert _default_writer() is before_writer and tf.summary.experimental.get_step() == before_step


def test_every_programs_writer_leaves_the_default_writer_as_it_was(tmp_path):
    """GAN, DANN and autoencoder logging: a writer whose flush fails (a full disk) raises, and the
    process's default writer is still the one before (else every later tf.summary call fails)."""
    import numpy as np

    from utilities.autoencoder.callbacks import ReconstructionImages
    from utilities.domain_adaptation.metrics_log import MetricsLog
    from utilities.gan.quality import Quality
    from utilities.gan.tb import GanBoard

    board = GanBoard(tmp_path / "gan")
    board.writer = FailingFlush()
    log = MetricsLog(tmp_path / "dann.csv", tmp_path / "dann")
    log.writer = FailingFlush()
    images = ReconstructionImages(tmp_path / "cae", np.zeros((2, 4, 4, 1), np.float32))
    images.writer = FailingFlush()
    images.set_model(lambda x, training=False: x)
    quality = Quality(histogram=np.full(10, 0.1), entropy_bits=1.0, diversity=0.5)
    calls = [lambda: board.write_epoch([{"step": 1, "d_loss": 1.0, "g_loss": 1.0, "d_real": 0.5, "d_fake": 0.5}],
                                       np.zeros((4, 4)), quality),
             lambda: log.add({"epoch": 1}),
             lambda: images.on_epoch_end(0)]
    before = _default_writer()
    for call in calls:
        with pytest.raises(tf.errors.ResourceExhaustedError):
            call()
        assert _default_writer() is before
