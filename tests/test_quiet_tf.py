"""The CLIs' quiet TensorFlow import hides the C++ start-up chatter but not Python's own output."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ("from utilities.common.quiet_tf import import_tensorflow_quietly; import_tensorflow_quietly(); "
          "import sys, tensorflow as tf; tf.constant(1.0) + 1; print('after import', file=sys.stderr)")


def _stderr() -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True).stderr


def test_start_up_lines_hidden_and_stderr_restored():
    # TF 2.21 prints oneDNN / CUDA-probe lines here without the redirect; Python's own
    # writes after the import must still arrive.
    assert _stderr().strip() == "after import"



def test_pooled_cpu_allocator_unless_the_environment_says_otherwise():
    check = ("from utilities.common.quiet_tf import import_tensorflow_quietly; import_tensorflow_quietly(); "
             "import tensorflow as tf; tf.ones((256, 256)) + 1\n"
             "try:\n    tf.config.experimental.get_memory_info('CPU:0'); print('pooled')\n"
             "except ValueError:\n    print('malloc')")   # only the BFC allocator keeps statistics
    base = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    for extra, expected in (({}, "pooled"), ({"TF_CPU_ALLOCATOR_USE_BFC": "0"}, "malloc")):
        out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env={**base, **extra}, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        assert out.strip() == expected
