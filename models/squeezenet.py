"""SqueezeNet 1.1 (Iandola et al. 2016) laid out like rcmalli/keras-squeezenet's ImageNet h5.

Input: 227x227 BGR minus the caffe mean [103.939, 116.779, 123.68] (see `preprocess_input`);
the network is fully convolutional, so `input_size=None` accepts any size of at least 35 px.
Output: logits = global average of ReLU(conv10) (the tensor the Keras original fed into its
softmax), no softmax.

Layer names are the file's with '/' replaced by '_' (Keras 3 forbids '/'): `conv1`,
`fire2_squeeze1x1`, `fire2_expand1x1`, `fire2_expand3x3`, `fire2_concat` (the module's output:
expand1x1 then expand3x3 on the channel axis), ..., `fire9_concat`, `drop9`, `conv10`, `pool10`.
ReLUs live inside the convolutions (`activation="relu"`), as in models/alexnet.py, so a tap on
`conv1` or a fire module is the rectified feature map. Pooling is 'valid' (floor), as in the
Keras original: at 227 the maps are 113, 56, 27, 13 (torchvision's ceil-mode pools give 28 and
14 at 227; they agree with floor mode at 224). `ceil_mode=True` reproduces torchvision's
`MaxPool2d(3, 2, ceil_mode=True)` exactly (for its checkpoints, see models/torchvision_weights.py).

`remove_fc=1` replaces `conv10` by a fresh 1x1 convolution named `classifier` (no ReLU: a new
head with rectified logits can die, and it cannot express evidence against a class) followed by
the same global average pool. SqueezeNet has no second classifier layer, so `remove_fc=2` is
refused.
"""
from __future__ import annotations

import keras
import numpy as np

from models.heads import CLASSIFIER
from models.preprocessing import bgr_minus_mean

INPUT_SIZE = 227
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
# (module, squeeze width, expand width of each of the 1x1 and 3x3 branches)
FIRE_MODULES = ((2, 16, 64), (3, 16, 64), (4, 32, 128), (5, 32, 128),
                (6, 48, 192), (7, 48, 192), (8, 64, 256), (9, 64, 256))
POOL_AFTER = {"conv1": "pool1", "fire3_concat": "pool3", "fire5_concat": "pool5"}
FC_LAYERS = ("conv10",)   # the classifier (a 1x1 convolution); the ModelSpec field keeps the FC name
FIRE_OUTPUTS = tuple(f"fire{m}_concat" for m, _, _ in FIRE_MODULES)
CONV_LAYERS = ("conv1", *FIRE_OUTPUTS)   # rectified spatial feature maps, for taps (style transfer)
GRADCAM_LAYER = "fire9_concat"           # the last fire module's output (the CS7643 handout's choice)
# torchvision squeezenet1_1.features[i] -> our layer with the same output. Its ReLUs are in-place,
# so features[0]'s output is rectified too: 0 and 1 are both `conv1`.
TORCHVISION_FEATURES = {0: "conv1", 1: "conv1", 2: "pool1", 3: "fire2_concat", 4: "fire3_concat",
                        5: "pool3", 6: "fire4_concat", 7: "fire5_concat", 8: "pool5",
                        9: "fire6_concat", 10: "fire7_concat", 11: "fire8_concat", 12: "fire9_concat"}


def fire_layers(module: int) -> tuple[str, str, str]:
    """The three convolutions of fire module `module` (2..9)."""
    return f"fire{module}_squeeze1x1", f"fire{module}_expand1x1", f"fire{module}_expand3x3"


WEIGHT_LAYERS = ("conv1", *(name for m, _, _ in FIRE_MODULES for name in fire_layers(m)), "conv10")


def preprocess_input(x):
    """RGB 0..255 (numpy or tensor, channels last) -> BGR minus the ImageNet mean (caffe mode)."""
    return bgr_minus_mean(x, MEAN_BGR)


def file_layer_name(name: str) -> str:
    """rcmalli's h5 name of one of our layers ('fire2_squeeze1x1' -> 'fire2/squeeze1x1')."""
    return name.replace("_", "/", 1) if name.startswith("fire") else name


def from_file_names(weights: dict) -> dict:
    """`{'fire2/squeeze1x1': ...}` (the h5's names) -> `{'fire2_squeeze1x1': ...}` (ours)."""
    return {name.replace("/", "_"): value for name, value in weights.items()}


def _fire(x, module: int, squeeze: int, expand: int):
    squeeze_name, expand1_name, expand3_name = fire_layers(module)
    s = keras.layers.Conv2D(squeeze, 1, activation="relu", name=squeeze_name)(x)
    e1 = keras.layers.Conv2D(expand, 1, activation="relu", name=expand1_name)(s)
    e3 = keras.layers.Conv2D(expand, 3, padding="same", activation="relu", name=expand3_name)(s)
    return keras.layers.Concatenate(axis=-1, name=f"fire{module}_concat")([e1, e3])


def _pool(x, name: str, ceil_mode: bool = False):
    """Max-pool 3/2 'valid' (floor), or as torchvision's MaxPool2d(3, 2, ceil_mode=True).

    Ceil mode gives ceil((n - 3) / 2) + 1 outputs, and a window never starts past the input, so
    for a 3/2 pool it is one extra row and column at the bottom/right, then 'valid' pooling:
    floor((n + 1 - 3) / 2) + 1 equals ceil((n - 3) / 2) + 1 for every n >= 3 (equal to floor mode
    at even n, one more at odd n, e.g. 227 -> 113 -> 56 -> 28 -> 14). The extra cells are zeros,
    which never change a maximum here: every pool follows a ReLU, so its inputs are >= 0 (and
    each window holds at least one real cell, which wins ties for the gradient too).
    """
    if ceil_mode:
        x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, padding="valid", name=name)(x)


def default_train_layers(remove_fc: int) -> list[str]:
    """The head plus the module below it (the skeleton's ['fc8', 'fc7'] in SqueezeNet terms)."""
    check_remove_fc(remove_fc)
    return [CLASSIFIER if remove_fc else "conv10", *fire_layers(9)]


def check_remove_fc(remove_fc: int) -> None:
    if remove_fc == 2:
        raise ValueError("remove_fc=2 does not apply to SqueezeNet: its classifier is the single 1x1 "
                         "convolution conv10 (use remove_fc=1 to replace it)")
    if remove_fc not in (0, 1):
        raise ValueError(f"remove_fc must be 0 or 1 for SqueezeNet, got {remove_fc!r}")


def build_squeezenet(num_classes: int = 1000, *, remove_fc: int = 0, dropout: float = 0.5,
                     input_size: int | None = INPUT_SIZE, input_tensor=None, ceil_mode: bool = False) -> keras.Model:
    """Build SqueezeNet 1.1; `remove_fc=1` replaces `conv10` by a `classifier` of `num_classes`.

    With remove_fc=0 the classifier is `conv10` with `num_classes` filters (1000 for ImageNet).
    `input_size=None` builds a model for any input size (the output is a global average).
    `ceil_mode=True` pools as torchvision's squeezenet1_1 does (each pool gets a zero row and
    column `<pool>_pad` first; see `_pool`); the default is the Keras original's floor mode.
    """
    check_remove_fc(remove_fc)
    inputs = input_tensor if input_tensor is not None else keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Conv2D(64, 3, strides=2, padding="valid", activation="relu", name="conv1")(inputs)
    x = _pool(x, "pool1", ceil_mode)
    for module, squeeze, expand in FIRE_MODULES:
        x = _fire(x, module, squeeze, expand)
        if f"fire{module}_concat" in POOL_AFTER:
            x = _pool(x, POOL_AFTER[f"fire{module}_concat"], ceil_mode)
    if dropout:
        x = keras.layers.Dropout(dropout, name="drop9")(x)
    # Logits in float32 even under mixed precision: losses and saliency need the precision.
    if remove_fc:
        x = keras.layers.Conv2D(num_classes, 1, name=CLASSIFIER, dtype="float32")(x)
    else:
        x = keras.layers.Conv2D(num_classes, 1, activation="relu", name="conv10", dtype="float32")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool10", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="squeezenet")
