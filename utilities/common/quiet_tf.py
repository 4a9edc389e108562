"""Import TensorFlow the way every command wants it: quiet, and with a pooling CPU allocator.

TF 2.21 prints oneDNN and CUDA-probe lines (`I0000 ... port.cc`, `E0000 ... cuInit`) through
absl before `TF_CPP_MIN_LOG_LEVEL` is honoured, which buries the one-line messages our
commands print. The CLIs call `import_tensorflow_quietly()` first: stderr (file descriptor 2)
is pointed at /dev/null while TensorFlow loads and probes its devices, then restored.
Python exceptions are unaffected (they are printed after stderr is back). Set TF_VERBOSE=1
to see everything.

The allocator: TensorFlow's default CPU allocator is malloc, and glibc serves every block
above 32 MB (an FC kernel, its gradient, a batch of conv activations) with a fresh mmap, so
each step page-faults and zeroes those blocks again. `TF_CPU_ALLOCATOR_USE_BFC=1` (a
TensorFlow switch, read when the first tensor is allocated) keeps them in TensorFlow's
best-fit pool instead; the CLIs set it unless the environment already says otherwise. Measured
in bench/finetune_run_bench.py (the cached 3a step, the AlexNet forward of the feature cache).
"""
from __future__ import annotations

import os
import sys

POOLED_ALLOCATOR = {"TF_CPU_ALLOCATOR_USE_BFC": "1"}


def use_pooled_cpu_allocator() -> None:
    """Ask for TensorFlow's pooling (BFC) CPU allocator; must run before TF allocates."""
    for name, value in POOLED_ALLOCATOR.items():
        os.environ.setdefault(name, value)


def import_tensorflow_quietly() -> None:
    """Import tensorflow and keras, hiding what the C++ runtime prints while it starts."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    use_pooled_cpu_allocator()
    if os.environ.get("TF_VERBOSE") or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here; devices stay configurable
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
