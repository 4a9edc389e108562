"""VGG16 with the layer names of `keras.applications.VGG16`, outputting logits.

Input: 224x224 BGR minus the caffe mean (identical to `keras.applications.vgg16.preprocess_input`).
The machrisaa `vgg16.npy` of the assignment, Frossard's npz and Keras' own h5 all load into it
(see models/weight_formats.py); dropout layers (active only in training) follow fc1 and fc2
as in the original VGG, which keras.applications leaves out.
"""
from __future__ import annotations

import keras
import numpy as np

from models.heads import add_fc_head
from models.preprocessing import bgr_minus_mean

INPUT_SIZE = 224
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
FC_LAYERS = ("fc1", "fc2", "predictions")
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
CONV_LAYERS = tuple(f"block{b}_conv{i}" for b, n, _ in BLOCKS for i in range(1, n + 1))


def preprocess_input(x):
    """RGB 0..255 (numpy or tensor, channels last) -> BGR minus the ImageNet mean (caffe mode)."""
    return bgr_minus_mean(x, MEAN_BGR)


def build_vgg16(num_classes: int = 1000, *, remove_fc: int = 0, dropout: float = 0.5,
                input_tensor=None, conv_widths=None, fc_widths=(4096, 4096)) -> keras.Model:
    """Build VGG16; `remove_fc` drops the last 1 or 2 FC layers and adds a `classifier`.

    `conv_widths` (five filter counts, one per block; default VGG's 64, 128, 256, 512, 512) and
    `fc_widths` (fc1, fc2) build a narrower network with the same layers and names (tests).
    """
    inputs = input_tensor if input_tensor is not None else keras.Input(
        (INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = inputs
    widths = conv_widths or [filters for _, _, filters in BLOCKS]
    for (block, convs, _), filters in zip(BLOCKS, widths, strict=True):
        for i in range(1, convs + 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                    name=f"block{block}_conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = add_fc_head(x, FC_LAYERS, widths=tuple(fc_widths), num_classes=num_classes,
                          remove_fc=remove_fc, dropout=dropout)
    return keras.Model(inputs, outputs, name="vgg16")
