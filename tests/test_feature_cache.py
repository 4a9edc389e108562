"""Caching the frozen layers' output: where the network is split, and same updates as without the cache."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from tests.fixtures_training import NUM_CLASSES, TINY_SIZE, build_tiny_model, image_set, tiny_preprocess  # noqa: F401
from utilities.finetune.feature_cache import cache_bytes, compute_features, split_for_cache
from utilities.finetune.training import StepRunner, fit
from utilities.finetune.training_data import CachedData, ImageData, read_labelled_list


@pytest.mark.parametrize("layers, boundary, after_flatten", [
    (["classifier", "fc7"], "fc6", True),         # fc6 is frozen: cache its output, dropout stays live
    (["classifier"], "fc6", True),                # fc6_dropout is random: the cache stops before it
    (["classifier", "fc6"], "flatten", True),
    (["classifier", "conv1"], None, None),        # the first layer trains: nothing to skip
])
def test_split_point(layers, boundary, after_flatten):
    model = build_tiny_model()
    models.set_trainable(model, layers)
    split = split_for_cache(model)
    if boundary is None:
        assert split is None
        return
    assert (split.boundary, split.after_flatten) == (boundary, after_flatten)
    assert not split.trunk.trainable_weights
    assert {v.path for v in split.head.trainable_weights} == {v.path for v in model.trainable_weights}
    x = np.random.default_rng(0).normal(size=(3, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(split.head(split.trunk(x)), model(x), rtol=1e-6, atol=1e-6)
    # dropout still applies in the cached path
    features = split.trunk(x)
    assert not np.allclose(split.head(features, training=True), split.head(features, training=True))


@pytest.mark.parametrize("remove_fc, boundary, shape", [(1, "fc6", (4096,)), (2, "flatten", (9216,))])
def test_alexnet_default_layers_split(remove_fc, boundary, shape):
    model = models.build_model("alexnet", "random", remove_fc=remove_fc, num_classes=10)
    models.set_trainable(model, models.default_train_layers("alexnet", remove_fc))
    split = split_for_cache(model)
    assert (split.boundary, split.feature_shape, split.after_flatten) == (boundary, shape, True)
    assert cache_bytes(split, 3204) == 3204 * 2 * int(np.prod(shape)) * 4


def _train(image_set, cached: bool, epochs: int = 2):  # noqa: F811
    model = build_tiny_model(seed=0, dropout=0.5)
    models.set_trainable(model, ["classifier", "fc7"])
    train = read_labelled_list(image_set.train_list, NUM_CLASSES)
    val = read_labelled_list(image_set.val_list, NUM_CLASSES)
    images = ImageData(train, val, TINY_SIZE, tiny_preprocess, batch_size=5, seed=3)
    data, network = images, model
    if cached:
        split = split_for_cache(model)
        train_features, train_valid = compute_features(split.trunk, images.indexed_batches("train"), len(train))
        val_features, val_valid = compute_features(split.trunk, images.indexed_batches("validation"), len(val),
                                                   flips=(False,))
        data = CachedData(train_features, train_valid, train.labels, val_features, val_valid, val.labels,
                          batch_size=5, seed=3)
        network = split.head
        assert data.skipped == (1, 0)
        # the two flip states really differ (the cache is not one state twice)
        assert not np.allclose(train_features[train_valid][:, 0], train_features[train_valid][:, 1])
    runner = StepRunner(network, model.trainable_variables, keras.optimizers.SGD(0.05), num_classes=NUM_CLASSES)
    step, epoch = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    records = fit(runner, data, epochs=epochs, display_step=3, step=step, epoch=epoch)
    return model, records, data


def test_cached_and_uncached_give_the_same_updates(image_set):  # noqa: F811
    plain_model, plain_records, plain_data = _train(image_set, cached=False)
    cached_model, cached_records, _ = _train(image_set, cached=True)
    assert plain_data.skipped == (1, 0)  # the corrupt image is skipped, not fatal, in both paths
    assert [r.step for r in plain_records] == [r.step for r in cached_records] == [5, 10]  # 24 images / 5
    for plain, cached in zip(plain_records, cached_records, strict=True):
        assert cached.train_loss == pytest.approx(plain.train_loss, rel=1e-4, abs=1e-6)
        assert cached.val_loss == pytest.approx(plain.val_loss, rel=1e-4, abs=1e-6)
    moved = False
    for plain, cached, start in zip(plain_model.weights, cached_model.weights, build_tiny_model(seed=0).weights,
                                    strict=True):
        np.testing.assert_allclose(cached.numpy(), plain.numpy(), rtol=1e-4, atol=1e-5, err_msg=plain.path)
        moved |= not np.allclose(plain.numpy(), start.numpy())
    assert moved  # the comparison is not between two untouched models
