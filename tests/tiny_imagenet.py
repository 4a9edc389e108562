"""A tiny stand-in for VGG16 in the 3b tests: 32x32 input, a `block5_conv3` layer, 1000 logits."""
from __future__ import annotations

import cv2
import keras
import numpy as np

SIZE = 32


def tiny_imagenet_model():
    """32x32 input, a conv layer named like VGG16's, 1000 logits (so class names are ImageNet's)."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="block5_conv3")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(1000, name="predictions")(x), name="tiny")


def tiny_preprocess(x):
    return x[..., ::-1] / 127.5 - 1.0   # RGB 0..255 -> BGR [-1, 1], like a ModelSpec.preprocess


def write_photo(path, seed, shape=(40, 60, 3)):
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, shape, np.uint8))
    return path
