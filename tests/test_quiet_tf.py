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


# What TensorFlow does with the switch (whether its allocator statistics answer, which allocator
# serves a block) differs between machines and builds, so the test checks the setting itself: the
# variable holds its value at the moment `tensorflow` is first imported (TensorFlow reads it when
# the first tensor is allocated, after the import), and a value the environment gives wins.
ALLOCATOR_AT_IMPORT = """
import os, sys
from importlib.abc import MetaPathFinder
class Watch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" and "seen" not in globals():
            globals()["seen"] = os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "<unset>")
        return None
sys.meta_path.insert(0, Watch())
from utilities.common.quiet_tf import import_tensorflow_quietly
import_tensorflow_quietly()
import tensorflow as tf
tf.ones((4, 4)) + 1
print(seen, os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "<unset>"))
"""


def test_pooled_cpu_allocator_unless_the_environment_says_otherwise():
    base = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    for extra, expected in (({}, "1"), ({"TF_CPU_ALLOCATOR_USE_BFC": "0"}, "0"),
                            ({"TF_CPU_ALLOCATOR_USE_BFC": "false"}, "false")):
        out = subprocess.run([sys.executable, "-c", ALLOCATOR_AT_IMPORT], cwd=ROOT, env={**base, **extra},
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert out.split() == [expected, expected], extra


def test_the_clis_ask_for_the_pooled_allocator_before_tensorflow():
    # Every top-level program imports TensorFlow through the quiet import (which sets the switch).
    for cli in sorted(ROOT.glob("*.py")):
        text = cli.read_text()
        if "tensorflow" in text or "keras" in text or "import_tensorflow_quietly" in text:
            assert "import_tensorflow_quietly" in text, cli.name
