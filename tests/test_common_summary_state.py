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
