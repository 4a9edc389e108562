"""explain_folder traces its shared pass once per process for the same model and settings
(utilities/explain/engine.py `cached_pass`): a second folder does not trace again, other settings
get their own pass, changed weights are used, and a dropped model is not kept alive for ever."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from tests.tiny_imagenet import SIZE, tiny_imagenet_model, tiny_preprocess, write_photo
from utilities.explain import engine, folder
from utilities.explain.folder import explain_folder


@pytest.fixture
def photos(tmp_path):
    path = tmp_path / "photos"
    path.mkdir()
    write_photo(path / "one.png", 0)
    write_photo(path / "two.png", 1, (50, 30, 3))
    return path


@pytest.fixture
def builds(monkeypatch):
    """How many times explain_folder built (and so traced) a pass."""
    engine.forget_passes()
    count = []
    build = folder.build_explainers
    monkeypatch.setattr(folder, "build_explainers", lambda *a, **k: count.append(1) or build(*a, **k))
    yield count
    engine.forget_passes()


def explain(photos, model, out, **options):
    settings = {"layer": "block5_conv3", "top_k": 3, **options}
    explain_folder(photos, model, preprocess=tiny_preprocess, input_size=SIZE, output_dir=out, save_arrays=True,
                   progress=False, echo=lambda line: None, **settings)
    return np.load(out / "one.npz")


def test_a_second_folder_reuses_the_traced_pass(photos, tmp_path, builds):
    model = tiny_imagenet_model()
    first = explain(photos, model, tmp_path / "a")
    second = explain(photos, model, tmp_path / "b")
    assert len(builds) == 1
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.parametrize("change", [{"top_k": 2}, {"methods": ["gradcam"]}, {"batch_size": 1},
                                    {"method_options": {"gradcam": {}}}])
def test_other_settings_get_their_own_pass(photos, tmp_path, builds, change):
    model = tiny_imagenet_model()
    explain(photos, model, tmp_path / "a")
    explain(photos, model, tmp_path / "b", **change)
    assert len(builds) == 2
    explain(photos, model, tmp_path / "c", **change)   # and that one is kept too
    assert len(builds) == 2


def test_another_model_with_the_same_settings_is_traced_for_itself(photos, tmp_path, builds):
    one, two = tiny_imagenet_model(), tiny_imagenet_model()
    two.get_layer("predictions").kernel.assign(-two.get_layer("predictions").kernel)
    a, b = explain(photos, one, tmp_path / "a"), explain(photos, two, tmp_path / "b")
    assert len(builds) == 2
    np.testing.assert_allclose(b["logits"], -a["logits"] + 2 * two.get_layer("predictions").bias.numpy(),
                               rtol=1e-4, atol=1e-4)


def test_changed_weights_are_used_by_the_kept_pass(photos, tmp_path, builds):
    model = tiny_imagenet_model()
    before = explain(photos, model, tmp_path / "a")
    dense = model.get_layer("predictions")
    dense.kernel.assign(np.random.default_rng(7).normal(size=dense.kernel.shape).astype(np.float32))
    after = explain(photos, model, tmp_path / "b")
    assert len(builds) == 1
    expected = model(after["input"][None]).numpy()[0]
    np.testing.assert_allclose(after["logits"], expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(after["logits"], before["logits"])
    np.testing.assert_array_equal(after["classes"], np.argsort(-expected)[:3])


def test_a_dropped_model_is_let_go_once_others_are_explained(photos, tmp_path, builds):
    model = tiny_imagenet_model()
    explain(photos, model, tmp_path / "a")
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is not None                       # kept with its pass (the next folder reuses it)
    for i in range(engine.PASS_CACHE_SIZE):
        explain(photos, tiny_imagenet_model(), tmp_path / f"other{i}")
    gc.collect()
    assert alive() is None
    engine.forget_passes()
    gc.collect()
    assert not engine._passes
