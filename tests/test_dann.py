"""models/dann.py: the paper's sizes, and the gradient reversal layer against hand-computed gradients."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from models.dann import FEATURES, GRL_NAME, GradientReversal, build_dann


def test_three_parts_have_the_papers_shapes_and_logit_outputs():
    keras.utils.set_random_seed(0)
    net = build_dann()
    assert net.feature_extractor.output.shape[-1] == FEATURES == 768
    assert [layer.name for layer in net.feature_extractor.layers[1:]] == ["conv1", "pool1", "conv2", "pool2",
                                                                          "flatten"]
    assert net.label_predictor.output.shape[-1] == 10 and net.domain_classifier.output.shape[-1] == 1
    # conv 5x5x3x32 + 5x5x32x48; FC 768-100-100-10; domain FC 768-100-1
    assert net.feature_extractor.count_params() == (75 * 32 + 32) + (800 * 48 + 48)
    assert net.label_predictor.count_params() == (768 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10)
    assert sum(int(np.prod(v.shape)) for v in net.domain_classifier.trainable_variables) == 768 * 100 + 100 + 101
    assert net.label_predictor.layers[-1].activation is keras.activations.linear  # logits
    assert net.domain_classifier.layers[1].name == GRL_NAME and float(net.grl.lambda_.numpy()) == 0.0
    assert net.grl.lambda_ in net.domain_classifier.non_trainable_weights  # saved with the model
    small = build_dann(filters=(4, 8), hidden=16)
    assert small.feature_extractor.output.shape[-1] == 4 * 4 * 8


def test_gradient_reversal_forward_identity_backward_minus_lambda_times_upstream():
    layer = GradientReversal(0.25)
    x = tf.constant([[1.0, -2.0, 3.0]])
    w = tf.constant([[0.5, 2.0, -1.0]])

    def grad_of_weighted_sum(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(w * fn(x) ** 2)
        return y, tape.gradient(y, x)

    y, g = grad_of_weighted_sum(layer)
    np.testing.assert_allclose(y.numpy(), np.sum(w.numpy() * x.numpy() ** 2))  # forward unchanged
    np.testing.assert_allclose(g.numpy(), -0.25 * 2 * w.numpy() * x.numpy())  # d/dx = -lambda * 2 w x, by hand

    compiled = tf.function(lambda: grad_of_weighted_sum(layer)[1])
    layer.lambda_.assign(1.5)  # a schedule update is seen by the already-traced function
    np.testing.assert_allclose(compiled().numpy(), -1.5 * 2 * w.numpy() * x.numpy())
    layer.lambda_.assign(0.0)
    np.testing.assert_array_equal(compiled().numpy(), np.zeros((1, 3)))


def test_feature_gradient_through_the_domain_classifier_is_reversed_and_scaled():
    keras.utils.set_random_seed(1)
    net = build_dann(filters=(4, 8), hidden=16)
    features = tf.random.normal((5, net.feature_extractor.output.shape[-1]))
    labels = tf.constant([[0.0], [1.0], [0.0], [1.0], [1.0]])
    head = keras.Sequential(net.domain_classifier.layers[2:])  # the same Dense layers, no reversal

    def feature_gradient(model):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, model(features)))
        return tape.gradient(loss, features).numpy()

    plain = feature_gradient(head)
    assert np.abs(plain).max() > 0
    net.grl.lambda_.assign(0.7)
    np.testing.assert_allclose(feature_gradient(net.domain_classifier), -0.7 * plain, rtol=1e-5, atol=1e-8)
