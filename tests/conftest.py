"""Shared fixtures: quiet TensorFlow, seeded synthetic weight files in the original formats."""
from __future__ import annotations

import os
import shutil
import subprocess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "1")   # as the CLIs run (utilities/common/quiet_tf.py)

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.real_weights import squeezenet_h5  # noqa: E402,F401  (the real SqueezeNet h5, session-scoped)
from tests.synthetic_weights import alexnet_arrays, vgg16_caffe_arrays, write_pickled_npy  # noqa: E402


@pytest.fixture(scope="session")
def alexnet_npy(tmp_path_factory) -> Path:
    """A bvlc_alexnet.npy-format file (pickled dict name -> [W, b]) with seeded random weights."""
    path = tmp_path_factory.mktemp("weights") / "bvlc_alexnet.npy"
    write_pickled_npy(path, alexnet_arrays(seed=0))
    return path


@pytest.fixture(scope="session")
def vgg16_caffe_weights() -> dict[str, list[np.ndarray]]:
    """Seeded VGG16 weights in the Caffe naming (conv1_1 ... fc8), BGR first layer."""
    return vgg16_caffe_arrays(seed=1)


@pytest.fixture(scope="session")
def shapes_task():
    """The shapes CNN trained once per session and its held-out images (tests/explain_more_helpers.py;
    the tests that call `trained_shapes()` directly share the same cached model)."""
    from tests.shapes_task import shapes_task as cached_shapes_task
    return cached_shapes_task()


@pytest.fixture(scope="module")
def tiny_model():
    """tests/tiny_imagenet.py's model: ImageNet-sized output, cheap to explain."""
    from tests.tiny_imagenet import tiny_imagenet_model
    return tiny_imagenet_model()


@pytest.fixture
def tiny_cli(monkeypatch, tiny_model):
    """The real CLIs with the network replaced by the tiny model (same spec API)."""
    import dataclasses

    import models
    from tests.tiny_imagenet import SIZE, tiny_preprocess
    spec = dataclasses.replace(models.get_spec("vgg16"), input_size=SIZE, preprocess=tiny_preprocess)
    monkeypatch.setattr(models, "get_spec", lambda name, weights=None: spec)
    monkeypatch.setattr(models, "build_model", lambda *a, **k: tiny_model)
    route_open_model_through_models(monkeypatch)


def route_open_model_through_models(monkeypatch):
    """models.open_model (what the explanation CLIs call) builds through models.get_spec and
    models.build_model as they are at call time, so a test's stub of either is what it uses."""
    import models
    import models.opening
    monkeypatch.setattr(models.opening, "get_spec", lambda *a, **k: models.get_spec(*a, **k))
    monkeypatch.setattr(models.opening, "build_model", lambda *a, **k: models.build_model(*a, **k))


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems (root only); skip where mounting is not allowed."""
    mounted = []

    def mount(name: str, size_mb: int, read_only: bool = False) -> Path:
        point = tmp_path / name
        point.mkdir()
        options = f"size={size_mb}m" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode(errors='replace').strip()})")
        mounted.append(point)
        return point

    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)
