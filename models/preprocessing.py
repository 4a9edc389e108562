"""Input preprocessing: caffe style (RGB 0..255 -> BGR minus a mean) and torchvision style (RGB, /255, mean/std)."""
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
