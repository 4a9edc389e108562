"""An independent AlexNet forward pass written with raw tf.nn ops, the way the TF1 graph did it.

Deliberately shares no code with models/: it reads the weight dict directly and follows
Kratzert's `alexnet.py` (conv helper with input/kernel split for groups, then LRN and pool in
the requested order, reshape to 6*6*256, xw_plus_b).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def _conv(x, w, b, stride, padding, groups=1):
    if groups == 1:
        y = tf.nn.conv2d(x, w, [1, stride, stride, 1], padding)
    else:
        xs = tf.split(x, groups, axis=3)
        ws = tf.split(w, groups, axis=3)
        y = tf.concat([tf.nn.conv2d(a, k, [1, stride, stride, 1], padding) for a, k in zip(xs, ws, strict=True)], 3)
    return tf.nn.relu(tf.reshape(tf.nn.bias_add(y, b), tf.shape(y)))


def _lrn(x):
    return tf.nn.local_response_normalization(x, depth_radius=2, alpha=2e-5, beta=0.75, bias=1.0)


def _pool(x):
    return tf.nn.max_pool2d(x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="VALID")


def alexnet_logits(images_bgr_minus_mean: np.ndarray, weights: dict, order: str = "bvlc") -> np.ndarray:
    """Logits of fc8 for preprocessed images (N, 227, 227, 3)."""
    w = {k: [tf.constant(a) for a in v] for k, v in weights.items()}
    norm_pool = (lambda t: _pool(_lrn(t))) if order == "bvlc" else (lambda t: _lrn(_pool(t)))
    x = tf.constant(images_bgr_minus_mean, tf.float32)
    x = norm_pool(_conv(x, *w["conv1"], 4, "VALID"))
    x = norm_pool(_conv(x, *w["conv2"], 1, "SAME", groups=2))
    x = _conv(x, *w["conv3"], 1, "SAME")
    x = _conv(x, *w["conv4"], 1, "SAME", groups=2)
    x = _pool(_conv(x, *w["conv5"], 1, "SAME", groups=2))
    x = tf.reshape(x, [-1, 6 * 6 * 256])
    x = tf.nn.relu(tf.compat.v1.nn.xw_plus_b(x, *w["fc6"]))
    x = tf.nn.relu(tf.compat.v1.nn.xw_plus_b(x, *w["fc7"]))
    return tf.compat.v1.nn.xw_plus_b(x, *w["fc8"]).numpy()
