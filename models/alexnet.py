"""AlexNet as in the assignment (Kratzert's TF1 port of the BVLC Caffe model), in Keras 3.

Input: 227x227 BGR images minus the mean [104, 117, 124] (see `preprocess_input`).
Output: logits of `fc8` (no softmax). Layer names match the keys of `bvlc_alexnet.npy`.

Two orders of the first two blocks exist:
- "bvlc" (default): conv -> ReLU -> LRN -> max-pool, the order the BVLC weights were trained
  with (and Kratzert's own later fix, issue #15 of his repository).
- "assignment": conv -> ReLU -> max-pool -> LRN, the CaffeNet order the assignment's file used.
LRN is not scale-invariant, so the two give (slightly) different logits with the same weights.
"""
from __future__ import annotations

import keras
import numpy as np

from models.heads import add_fc_head
from models.layers import GroupedConv2D, LocalResponseNormalization
from models.preprocessing import bgr_minus_mean

INPUT_SIZE = 227
MEAN_BGR = np.array([104.0, 117.0, 124.0], dtype=np.float32)
FC_LAYERS = ("fc6", "fc7", "fc8")
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
LRN_ORDERS = ("bvlc", "assignment")


def preprocess_input(x):
    """RGB 0..255 (numpy or tensor, channels last) -> BGR minus the AlexNet mean."""
    return bgr_minus_mean(x, MEAN_BGR)


def _lrn_and_pool(x, index: int, order: str):
    lrn = LocalResponseNormalization(name=f"norm{index}")
    pool = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=f"pool{index}")
    return pool(lrn(x)) if order == "bvlc" else lrn(pool(x))


def build_alexnet(num_classes: int = 1000, *, remove_fc: int = 0, dropout: float = 0.5,
                  lrn_order: str = "bvlc", grouped_conv: str = "split",
                  input_tensor=None) -> keras.Model:
    """Build AlexNet; `remove_fc` drops the last 1 or 2 FC layers and adds a `classifier`.

    With remove_fc=0 the output layer is `fc8` with `num_classes` units (1000 for ImageNet).
    """
    if lrn_order not in LRN_ORDERS:
        raise ValueError(f"lrn_order must be one of {LRN_ORDERS}, got {lrn_order!r}")
    inputs = input_tensor if input_tensor is not None else keras.Input(
        (INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = keras.layers.Conv2D(96, 11, strides=4, padding="valid", activation="relu", name="conv1")(inputs)
    x = _lrn_and_pool(x, 1, lrn_order)
    x = GroupedConv2D(256, 5, groups=2, activation="relu", implementation=grouped_conv, name="conv2")(x)
    x = _lrn_and_pool(x, 2, lrn_order)
    x = keras.layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = GroupedConv2D(384, 3, groups=2, activation="relu", implementation=grouped_conv, name="conv4")(x)
    x = GroupedConv2D(256, 3, groups=2, activation="relu", implementation=grouped_conv, name="conv5")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="pool5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = add_fc_head(x, FC_LAYERS, widths=(4096, 4096), num_classes=num_classes,
                          remove_fc=remove_fc, dropout=dropout)
    return keras.Model(inputs, outputs, name="alexnet")
