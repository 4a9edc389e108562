"""Gaussian blur of image batches (IG's blurred baseline, deletion/insertion fills, class visualisation)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def gaussian_blur(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of (N,H,W,C) images, reflect-padded (no dark border), radius 3 sigma."""
    radius = max(1, int(round(3 * sigma)))
    known = [d for d in x.shape[1:3] if d is not None]
    if known:  # reflect padding needs radius < size: tiny images get a truncated kernel
        radius = max(1, min(radius, min(known) - 1))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = tf.constant(taps / taps.sum(), tf.float32)
    channels = x.shape[-1]
    row = tf.tile(tf.reshape(taps, [1, -1, 1, 1]), [1, 1, channels, 1])
    column = tf.tile(tf.reshape(taps, [-1, 1, 1, 1]), [1, 1, channels, 1])
    x = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    x = tf.nn.depthwise_conv2d(x, row, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, column, [1, 1, 1, 1], "VALID")
