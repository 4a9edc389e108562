"""RunCheckpoint: save, resume to the same weights, refuse changed settings or missing runs."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from utilities.common.run_checkpoint import ResumeError, RunCheckpoint


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def test_resume_restores_weights_optimizer_and_epochs(tmp_path):
    model, opt = _model(0), keras.optimizers.Adam(1e-2)
    opt.build(model.trainable_variables)
    ckpt = RunCheckpoint(tmp_path / "run", {"lr": 0.01}, model=model, optimizer=opt)
    assert ckpt.start(resume=False) == 0
    opt.apply(model.trainable_variables, model.trainable_variables)  # any update
    ckpt.save(3)

    model2, opt2 = _model(1), keras.optimizers.Adam(1e-2)
    opt2.build(model2.trainable_variables)
    again = RunCheckpoint(tmp_path / "run", {"lr": 0.01}, model=model2, optimizer=opt2)
    assert again.start(resume=True) == 3
    for a, b in zip(model.weights, model2.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(opt2.iterations.numpy()) == 1


def test_resume_refuses_changed_settings_and_missing_runs(tmp_path):
    model = _model(0)
    ckpt = RunCheckpoint(tmp_path / "run", {"lr": 0.01, "seed": 0}, model=model)
    ckpt.start(resume=False)
    ckpt.save(1)
    with pytest.raises(ResumeError, match=r"lr: 0\.01 -> 0\.1"):
        RunCheckpoint(tmp_path / "run", {"lr": 0.1, "seed": 0}, model=model).start(resume=True)
    with pytest.raises(ResumeError, match="no checkpoint"):
        RunCheckpoint(tmp_path / "other", {"lr": 0.01}, model=model).start(resume=True)
