"""Grad-CAM++ (Chattopadhay et al. 2018): Grad-CAM with per-location weights on positive gradients.

Each location's positive gradient is weighted by
a_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab g_ij^3), the closed form the paper derives for an
exponential of the class score (g = d score / d A), so several instances of a class all
count. Only `channel_weights` differs from Grad-CAM (the `CAM` base does the rest).
"""
from __future__ import annotations

import tensorflow as tf

from utilities.explain.base import CAM


class GradCAMPlusPlus(CAM):
    """w_k = sum_ij a_ij relu(g_ij), a_ij = g^2 / (2 g^2 + sum_ab A_ab g^3) (0 where undefined)."""

    name = "gradcam_pp"
    title = "Grad-CAM++"

    def channel_weights(self, x, activations, gradients, classes):
        g2, g3 = tf.square(gradients), gradients ** 3
        total = tf.reduce_sum(activations, axis=(1, 2))[:, None, None, None, :]  # (N,1,1,1,c)
        denominator = 2 * g2 + total * g3
        safe = tf.where(denominator != 0, denominator, tf.ones_like(denominator))
        alpha = tf.where(denominator != 0, g2 / safe, tf.zeros_like(g2))
        return tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(2, 3))
