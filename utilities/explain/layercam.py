"""LayerCAM (Jiang et al. 2021): Grad-CAM with a weight per location instead of per channel.

cam = ReLU(sum_k ReLU(d y^c / d A^k_ij) * A^k_ij): each activation is weighted by its own
positive gradient, so the map keeps fine detail where Grad-CAM's channel averages blur it,
and it works on earlier (higher-resolution) layers too. Only the weights differ from Grad-CAM
(the `CAM` base combines them), so it shares Grad-CAM's pass.

One image from the command line: `python -m utilities.explain IMAGE --method layercam`.
"""
from __future__ import annotations

import tensorflow as tf

from utilities.explain.base import CAM


class LayerCAM(CAM):
    """w^c_ijk = ReLU(d y^c / d A^k_ij), per location; cam = ReLU(sum_k w_ijk A^k_ij)."""

    name = "layercam"
    title = "LayerCAM"

    def channel_weights(self, x, activations, gradients, classes):
        return tf.nn.relu(gradients)                       # (N, K, h, w, c): per location
