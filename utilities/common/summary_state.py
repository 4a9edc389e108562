"""tf.summary's default writer and step, put back however a block of TensorBoard logging ends.

`writer.as_default()` restores the previous default writer on exit only after flushing the
writer; when that flush fails (a full disk), the failed writer stays the process's default,
and once it is closed every later `tf.summary` call in the process fails with "Resource ...
SummaryWriterInterface does not exist" (seen: a 3a run stopped by a full disk, then an
autoencoder run in the same Python process). Programs that write summaries wrap their run in
`summary_state_restored()`. TensorFlow has no public getter for the default writer, so this
reads its thread-local state; were that internal name to move, the guard does nothing.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

try:
    from tensorflow.python.ops.summary_ops_v2 import _summary_state
except ImportError:  # internal API moved: no guard (the CLIs exit after a failure anyway)
    _summary_state = None


@contextlib.contextmanager
def summary_state_restored() -> Iterator[None]:
    """Run the block; afterwards tf.summary's default writer and step are what they were before it."""
    if _summary_state is None:
        yield
        return
    writer, step = _summary_state.writer, _summary_state.step
    try:
        yield
    finally:
        _summary_state.writer, _summary_state.step = writer, step
