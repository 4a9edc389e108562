"""The feature cache in bfloat16 (issue 27): kept only when its features agree with float32's, and
training on them stays within tolerance of training on float32 features."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from tests.fixtures_training import NUM_CLASSES, TINY_SIZE, build_tiny_model, image_set, tiny_preprocess  # noqa: F401
from utilities.finetune import cache_precision
from utilities.finetune.cache_precision import MIN_COSINE, bfloat16_copy, choose_cache_trunk, min_cosine
from utilities.finetune.feature_cache import compute_features, split_for_cache
from utilities.finetune.training import StepRunner, fit
from utilities.finetune.training_data import CachedData, ImageData, read_labelled_list


def _split():
    model = build_tiny_model(seed=0, dropout=0.5)
    models.set_trainable(model, ["classifier", "fc7"])
    return model, split_for_cache(model)


def _images(seed: int = 0, count: int = 6) -> tf.Tensor:
    return tf.constant(tiny_preprocess(np.random.default_rng(seed).uniform(0, 255, (count, TINY_SIZE, TINY_SIZE, 3))),
                       tf.float32)


def test_the_bfloat16_copy_computes_in_bfloat16_with_the_same_weights_and_agrees():
    _, split = _split()
    copy = bfloat16_copy(split.trunk)
    assert [layer.name for layer in copy.layers] == [layer.name for layer in split.trunk.layers]
    assert {layer.compute_dtype for layer in copy.layers if layer.weights} == {"bfloat16"}
    for a, b in zip(split.trunk.weights, copy.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert MIN_COSINE <= min_cosine(split.trunk, copy, _images()) <= 1.0 + 1e-9


def test_choice_follows_the_flag_the_hardware_and_the_check(monkeypatch):
    _, split = _split()
    first = _images()
    assert choose_cache_trunk(split.trunk, "float32", first).model is split.trunk
    chosen = choose_cache_trunk(split.trunk, "bfloat16", first)
    assert chosen.precision == "bfloat16" and chosen.model is not split.trunk
    assert chosen.note.startswith("bfloat16 (the first 6 images' features within cosine")
    monkeypatch.setattr(cache_precision, "bfloat16_is_fast", lambda: False)
    slow = choose_cache_trunk(split.trunk, "auto", first)
    assert slow.precision == "float32" and "no bfloat16 hardware" in slow.note
    monkeypatch.setattr(cache_precision, "bfloat16_is_fast", lambda: True)
    assert choose_cache_trunk(split.trunk, "auto", first).precision == "bfloat16"
    with pytest.raises(ValueError, match="--cache-precision must be one of"):
        choose_cache_trunk(split.trunk, "float16", first)


def test_features_that_disagree_fall_back_to_float32_and_say_so(monkeypatch):
    """A bfloat16 trunk whose features differ (here: other weights) is refused by the cosine check."""
    _, split = _split()

    def wrong_copy(trunk):
        copy = bfloat16_copy(trunk)
        copy.set_weights([np.random.default_rng(9).normal(size=w.shape) for w in trunk.get_weights()])
        return copy

    monkeypatch.setattr(cache_precision, "bfloat16_copy", wrong_copy)
    chosen = choose_cache_trunk(split.trunk, "bfloat16", _images())
    assert chosen.model is split.trunk and chosen.precision == "float32"
    assert "disagreed with float32's on the first 6 images: cosine" in chosen.note


def test_a_model_already_in_mixed_precision_keeps_its_own():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        _, split = _split()
    finally:
        keras.config.set_dtype_policy("float32")
    chosen = choose_cache_trunk(split.trunk, "bfloat16", _images())
    assert chosen.model is split.trunk and chosen.precision == "model's own"


def _train_on_cache(image_set, trunk_of):  # noqa: F811
    model, split = _split()
    train = read_labelled_list(image_set.train_list, NUM_CLASSES)
    val = read_labelled_list(image_set.val_list, NUM_CLASSES)
    images = ImageData(train, val, TINY_SIZE, tiny_preprocess, batch_size=5, seed=3)
    trunk = trunk_of(split.trunk)
    train_features, train_valid = compute_features(trunk, images.indexed_batches("train"), len(train))
    val_features, val_valid = compute_features(trunk, images.indexed_batches("validation"), len(val), flips=(False,))
    assert train_features.dtype == np.float32
    data = CachedData(train_features, train_valid, train.labels, val_features, val_valid, val.labels,
                      batch_size=5, seed=3)
    runner = StepRunner(split.head, model.trainable_variables, keras.optimizers.SGD(0.05), num_classes=NUM_CLASSES)
    step, epoch = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    return train_features[train_valid], fit(runner, data, epochs=3, display_step=3, step=step, epoch=epoch)


def test_training_on_bfloat16_features_stays_within_tolerance_of_float32(image_set):  # noqa: F811
    exact_features, exact = _train_on_cache(image_set, lambda trunk: trunk)
    fast_features, fast = _train_on_cache(image_set, bfloat16_copy)
    flat = exact_features.reshape(len(exact_features) * 2, -1), fast_features.reshape(len(fast_features) * 2, -1)
    cosine = (flat[0] * flat[1]).sum(1) / np.maximum(np.linalg.norm(flat[0], axis=1) * np.linalg.norm(flat[1], axis=1),
                                                     1e-12)
    assert cosine.min() >= MIN_COSINE and not np.array_equal(*flat)   # close, and really computed in bfloat16
    for a, b in zip(exact, fast, strict=True):
        assert b.train_loss == pytest.approx(a.train_loss, rel=0.02, abs=1e-3)
        assert b.val_loss == pytest.approx(a.val_loss, rel=0.02, abs=1e-3)
        assert abs(b.val_accuracy - a.val_accuracy) <= 0.15
