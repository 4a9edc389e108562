"""Caffe-style preprocessing shared by AlexNet and VGG16: RGB 0..255 -> BGR minus a mean."""
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
