"""assignment_3a.py --model squeezenet: conv10 replaced by a 1x1 `classifier`, fire9 + head fine-tuned,
the frozen fire modules cached, Grad-CAM on fire9_concat in TensorBoard during training.

The end-to-end run uses the real ImageNet weights (the `squeezenet_h5` fixture) on the generated
three-colour image lists of tests/fixtures_training.py; the rest is offline.
"""
from __future__ import annotations

import gc
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import assignment_3a
import models
from tests.fixtures_training import image_set, read_events  # noqa: F401
from utilities.finetune.explain_logging import IMAGE_TAG_PREFIX, MOVED_TAG
from utilities.finetune.feature_cache import split_for_cache


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def _args(image_set, tmp_path, weights, *extra):  # noqa: F811
    return ["--model", "squeezenet", "--weights", str(weights), "--train-list", str(image_set.train_list),
            "--val-list", str(image_set.val_list), "--num-classes", "3", "--batch-size", "8",
            "--logdir", str(tmp_path / "logs"), "--checkpoint-dir", str(tmp_path / "ckpt"), "--no-progress",
            "--seed", "0", *extra]


def test_remove_fc2_is_refused_in_one_line(image_set, tmp_path, capsys):  # noqa: F811
    code = assignment_3a.main(_args(image_set, tmp_path, "random", "--remove-fc", "2", "--epochs", "1"))
    err = capsys.readouterr().err
    assert code == 1 and err.strip().splitlines() == [
        "error: --remove-fc 2 does not apply to --model squeezenet: its classifier is the single 1x1 "
        "convolution conv10; use --remove-fc 1"]


def test_frozen_fire_modules_split_off_for_the_cache():
    """Default train layers (classifier + fire9): the trunk ends at fire8_concat and head(trunk(x)) == model(x)."""
    keras.utils.set_random_seed(0)
    model = models.build_model("squeezenet", "random", remove_fc=1, num_classes=3)
    models.set_trainable(model, models.default_train_layers("squeezenet", 1))
    split = split_for_cache(model)
    assert split is not None and split.boundary == "fire8_concat" and not split.after_flatten
    assert split.feature_shape == (13, 13, 512)
    x = np.random.default_rng(0).uniform(-120, 120, (2, 227, 227, 3)).astype(np.float32)
    np.testing.assert_allclose(split.head(split.trunk(x)).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_real_squeezenet_fine_tunes_with_cache_and_explanations(image_set, tmp_path, squeezenet_h5,  # noqa: F811
                                                                 capsys):
    code = assignment_3a.main(_args(image_set, tmp_path, squeezenet_h5, "--epochs", "2", "--run-name", "sq",
                                    "--explain-every", "1", "--explain-images", "3"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "layers classifier, fire9_squeeze1x1, fire9_expand1x1, fire9_expand3x3" in out
    assert "cached fire8_concat output" in out
    run = json.loads((tmp_path / "ckpt" / "sq" / "run.json").read_text())
    assert [h["epoch"] for h in run["history"]] == [1, 2] and run["config"]["model"] == "squeezenet"
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "sq")).endswith("ckpt-2")
    shapes = tf.train.load_checkpoint(str(tmp_path / "ckpt" / "sq")).get_variable_to_shape_map().values()
    assert [1, 1, 512, 3] in shapes and [1, 1, 512, 64] in shapes          # classifier and fire9 squeeze
    assert [1, 1, 512, 1000] not in shapes and [3, 3, 3, 64] not in shapes  # no conv10, conv1 frozen
    events = read_events(tmp_path / "logs" / "sq")
    assert events["validation"]["accuracy"] and events["train"]["cross_entropy"]
    explained = read_events(tmp_path / "logs" / "sq" / "explanations")[""]   # Grad-CAM on fire9_concat
    assert sum(tag.startswith(IMAGE_TAG_PREFIX) for tag in explained) == 3, sorted(explained)
    assert len(explained[MOVED_TAG]) == 2                                     # after epochs 1 and 2
    exported = tmp_path / "ckpt" / "sq" / "final.weights.h5"
    reloaded = models.build_model("squeezenet", exported, remove_fc=1, num_classes=3)
    real = models.build_model("squeezenet", squeezenet_h5)
    np.testing.assert_array_equal(reloaded.get_layer("fire5_expand3x3").get_weights()[0],
                                  real.get_layer("fire5_expand3x3").get_weights()[0])   # frozen: untouched
    history = run["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] and history[-1]["val_accuracy"] > 0.6, history
