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


@pytest.fixture
def interrupted_merge(monkeypatch):
    """Ctrl-C landing inside a save: after TensorFlow wrote ckpt-N_temp/, before it renamed it."""
    import tensorflow as tf
    from tensorflow.python.checkpoint import functional_saver

    calls = {"n": 0}
    real = functional_saver.gen_io_ops.merge_v2_checkpoints

    def merge(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            prefix = kwargs.get("destination_prefix", args[1])
            prefix = prefix.numpy().decode() if hasattr(prefix, "numpy") else str(prefix)
            assert tf.io.gfile.glob(prefix + "_temp*"), "the shards are written before the merge"
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(functional_saver.gen_io_ops, "merge_v2_checkpoints", merge)
    return calls


def test_ctrl_c_during_a_save_leaves_no_partial_files_and_the_previous_checkpoint_in_charge(tmp_path,
                                                                                          interrupted_merge):
    import tensorflow as tf

    model = _model(0)
    ckpt = RunCheckpoint(tmp_path / "run", {"lr": 0.01}, model=model)
    ckpt.start(resume=False)
    ckpt.save(1)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(2)
    assert interrupted_merge["n"] == 2
    assert not list((tmp_path / "run").glob("*_temp*"))
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-1")


def test_ctrl_c_during_a_3a_checkpoint_leaves_no_partial_files(tmp_path, interrupted_merge):
    import tensorflow as tf

    from utilities.finetune.checkpointing import TrainingCheckpoint

    model = _model(0)
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    ckpt = TrainingCheckpoint(tmp_path / "run", trained={"dense": model.layers[0]}, optimizer=optimizer)
    ckpt.epoch.assign(1)
    ckpt.save()
    ckpt.epoch.assign(2)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save()
    assert not list((tmp_path / "run").glob("*_temp*"))
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-1")
