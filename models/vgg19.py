"""VGG19 with the layer names of `keras.applications.VGG19`, outputting logits (used by style transfer).

Same input convention as models/vgg16.py (224x224, BGR minus the caffe mean) and the same FC
head; four convolutions in blocks 3-5 instead of three. Weights: Keras' own h5 (the ImageNet
download), `.weights.h5` / `.keras`, or machrisaa's `vgg19.npy` (Caffe names conv1_1 ... fc8,
renamed by `CAFFE_TO_KERAS`).
"""
from __future__ import annotations

import keras

from models.heads import add_fc_head
from models.vgg16 import FC_LAYERS, INPUT_SIZE, MEAN_BGR, preprocess_input

BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
CONV_LAYERS = tuple(f"block{b}_conv{i}" for b, n, _ in BLOCKS for i in range(1, n + 1))
CAFFE_TO_KERAS = {
    **{f"conv{b}_{i}": f"block{b}_conv{i}" for b, n, _ in BLOCKS for i in range(1, n + 1)},
    "fc6": "fc1", "fc7": "fc2", "fc8": "predictions",
}

__all__ = ["BLOCKS", "CAFFE_TO_KERAS", "CONV_LAYERS", "FC_LAYERS", "INPUT_SIZE", "MEAN_BGR", "build_vgg19",
           "preprocess_input"]


def build_vgg19(num_classes: int = 1000, *, remove_fc: int = 0, dropout: float = 0.5,
                input_tensor=None, conv_widths=None, fc_widths=(4096, 4096)) -> keras.Model:
    """Build VGG19; `remove_fc` drops the last 1 or 2 FC layers and adds a `classifier`.

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
    return keras.Model(inputs, outputs, name="vgg19")
