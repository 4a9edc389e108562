"""DANN (Ganin & Lempitsky 2015) for MNIST -> MNIST-M: feature extractor, label predictor, domain classifier.

The three parts are separate functional `keras.Model`s, as in the paper's Figure 1:

    image (28x28x3) -> feature_extractor -> 768 features -> label_predictor   -> 10 class logits
                                                        -> domain_classifier -> 1 domain logit
                                                           (GradientReversal first)

Sizes are the paper's MNIST architecture (its Figure 4a, also pumpikano/tf-dann):
conv 5x5 32 -> ReLU -> max-pool 2x2 -> conv 5x5 48 -> ReLU -> max-pool 2x2 (VALID: 28 -> 4x4x48 = 768);
label predictor FC 100 -> FC 100 -> 10; domain classifier FC 100 -> 1 (source = 0, target = 1).
Outputs are logits. The domain classifier starts with a `GradientReversal` layer whose `lambda_`
(a non-trainable weight, so it is checkpointed with the model) the training schedule updates.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

IMAGE_SHAPE = (28, 28, 3)
NUM_CLASSES = 10
FILTERS = (32, 48)
HIDDEN = 100
FEATURES = 4 * 4 * FILTERS[1]
GRL_NAME = "gradient_reversal"


@keras.saving.register_keras_serializable(package="models")
class GradientReversal(keras.layers.Layer):
    """Identity on the forward pass; the gradient is multiplied by -lambda on the backward pass.

    `lambda_` is a scalar non-trainable weight (initial value `lambda_init`): assign to it to
    follow a schedule, inside or outside a tf.function.
    """

    def __init__(self, lambda_init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.lambda_init = float(lambda_init)
        self.lambda_ = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.lambda_init),
                                       trainable=False, name="lambda")

    def call(self, inputs):
        lam = tf.cast(tf.convert_to_tensor(self.lambda_), inputs.dtype)

        @tf.custom_gradient
        def reverse(x):
            def grad(upstream):
                return -lam * upstream
            return tf.identity(x), grad

        return reverse(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lambda_init": self.lambda_init}


@dataclass(frozen=True)
class DANN:
    """The three parts; `grl` is the domain classifier's GradientReversal layer."""

    feature_extractor: keras.Model
    label_predictor: keras.Model
    domain_classifier: keras.Model

    @property
    def grl(self) -> GradientReversal:
        return self.domain_classifier.get_layer(GRL_NAME)

    @property
    def trainable_variables(self) -> list:
        return [*self.feature_extractor.trainable_variables, *self.label_predictor.trainable_variables,
                *self.domain_classifier.trainable_variables]


def build_feature_extractor(input_shape: tuple[int, int, int] = IMAGE_SHAPE,
                            filters: tuple[int, int] = FILTERS) -> keras.Model:
    """conv1 5x5x32 -> pool1 -> conv2 5x5x48 -> pool2 -> flatten (768 for 28x28 inputs)."""
    x = inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(filters[0], 5, activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(filters[1], 5, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, x, name="feature_extractor")


def build_label_predictor(features: int = FEATURES, num_classes: int = NUM_CLASSES,
                          hidden: int = HIDDEN) -> keras.Model:
    """fc1 100 -> fc2 100 -> class logits."""
    x = inputs = keras.Input((features,), name="features")
    x = keras.layers.Dense(hidden, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(hidden, activation="relu", name="fc2")(x)
    x = keras.layers.Dense(num_classes, name="class_logits")(x)
    return keras.Model(inputs, x, name="label_predictor")


def build_domain_classifier(features: int = FEATURES, lambda_init: float = 0.0,
                            hidden: int = HIDDEN) -> keras.Model:
    """GradientReversal -> fc1 100 -> one domain logit (target = 1)."""
    x = inputs = keras.Input((features,), name="features")
    x = GradientReversal(lambda_init, name=GRL_NAME)(x)
    x = keras.layers.Dense(hidden, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(1, name="domain_logit")(x)
    return keras.Model(inputs, x, name="domain_classifier")


def build_dann(input_shape: tuple[int, int, int] = IMAGE_SHAPE, num_classes: int = NUM_CLASSES,
               lambda_init: float = 0.0, filters: tuple[int, int] = FILTERS, hidden: int = HIDDEN) -> DANN:
    """The three parts, freshly initialised (seed with `keras.utils.set_random_seed` first).

    `filters` and `hidden` default to the paper's sizes; smaller ones make quick CPU runs (tests).
    """
    extractor = build_feature_extractor(input_shape, filters)
    features = int(extractor.output.shape[-1])
    return DANN(extractor, build_label_predictor(features, num_classes, hidden),
                build_domain_classifier(features, lambda_init, hidden))
