"""Input preprocessing: every function takes RGB 0..255, channels last (numpy or tensor).

Named modes (`PREPROCESSING_MODES`, what --preprocess takes): caffe (BGR minus a mean), torch (/255,
mean/std), tf (-1..1), unit (0..1), none (as it is); `preprocessing_function(mode, channels)` also
feeds one-channel networks (gray first).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def bgr_minus_mean(x, mean_bgr: np.ndarray):
    """Reverse the channel axis (RGB -> BGR) and subtract `mean_bgr`; numpy in, numpy out."""
    if isinstance(x, np.ndarray):
        return x[..., ::-1] - mean_bgr
    x = tf.convert_to_tensor(x)
    x = x if x.dtype.is_floating else tf.cast(x, tf.float32)
    # tf.reverse rather than a strided slice: faster on tensors (tf.data, traced graphs).
    return tf.reverse(x, axis=[-1]) - mean_bgr


# torchvision's ImageNet normalisation (the PyTorch handouts' SQUEEZENET_MEAN / SQUEEZENET_STD).
TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def torch_normalize(x):
    """RGB 0..255 (numpy or tensor, channels last) -> RGB / 255, minus torchvision's mean, over its std.

    The input of torchvision's ImageNet weights (transforms.ToTensor then transforms.Normalize).
    """
    if isinstance(x, np.ndarray):
        return (x.astype(np.float32, copy=False) / 255.0 - TORCH_MEAN_RGB) / TORCH_STD_RGB
    x = tf.convert_to_tensor(x)
    x = x if x.dtype.is_floating else tf.cast(x, tf.float32)
    return (x / 255.0 - TORCH_MEAN_RGB) / TORCH_STD_RGB


# ----------------------------------------------------------------------------- named modes
# Every mode takes RGB 0..255, channels last (numpy or tensor), like the project's networks; each
# equals the `preprocess_input` of keras.applications that uses it (tests/test_keras_models.py).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def _float(x):
    if isinstance(x, np.ndarray):
        return x.astype(np.float32, copy=False)
    x = tf.convert_to_tensor(x)
    return x if x.dtype.is_floating else tf.cast(x, tf.float32)


def caffe(x):
    """RGB 0..255 -> BGR minus the ImageNet mean (VGG, ResNet50 of keras.applications: mode 'caffe')."""
    return bgr_minus_mean(_float(x), CAFFE_MEAN_BGR)


def tf_scale(x):
    """RGB 0..255 -> RGB in -1..1 (MobileNetV2, InceptionV3, Xception: mode 'tf')."""
    return _float(x) / 127.5 - 1.0


def unit_scale(x):
    """RGB 0..255 -> RGB in 0..1 (a model trained on images / 255)."""
    return _float(x) / 255.0


def as_is(x):
    """RGB 0..255 unchanged, as float32: the network normalises inside (EfficientNet, ConvNeXt, a
    model that starts with a Rescaling layer)."""
    return _float(x)


PREPROCESSING_MODES = {
    "caffe": caffe,
    "torch": torch_normalize,
    "tf": tf_scale,
    "unit": unit_scale,
    "none": as_is,
}
PREPROCESSING_HELP = {
    "caffe": "RGB -> BGR minus the ImageNet mean (0..255 scale)",
    "torch": "/255, minus ImageNet mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225)",
    "tf": "scaled to -1..1",
    "unit": "scaled to 0..1 (/255)",
    "none": "RGB 0..255 as it is (the model normalises inside)",
}


def to_gray(x):
    """RGB (..., 3) -> luma (..., 1), ITU-R 601 weights (PIL's 'L'): for one-channel models."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if isinstance(x, np.ndarray):
        return (x.astype(np.float32, copy=False) @ weights)[..., None]
    return tf.reduce_sum(_float(x) * weights, axis=-1, keepdims=True)


def preprocessing_function(mode: str, channels: int = 3):
    """The function of a preprocessing mode (caffe | torch | tf | unit | none) for a network with
    `channels` input channels (1: the RGB image is turned to gray first; caffe and torch need 3)."""
    if mode not in PREPROCESSING_MODES:
        raise ValueError(f"unknown preprocessing {mode!r}; choose one of {', '.join(PREPROCESSING_MODES)}")
    function = PREPROCESSING_MODES[mode]
    if channels == 3:
        return function
    if channels != 1:
        raise ValueError(f"a network with {channels} input channels cannot take RGB images")
    if mode in ("caffe", "torch"):
        raise ValueError(f"preprocessing {mode!r} is defined for RGB networks, not a one-channel one; "
                         f"use tf, unit or none")

    def gray(x):
        return function(to_gray(x))

    gray.__name__ = f"gray_{function.__name__}"
    return gray
