"""Grad-CAM (Selvaraju et al. 2017): where in a conv layer's maps the class evidence lies.

Its base `CAM` (utilities/explain/base.py) runs the model once exposing the
layer's maps A (N,h,w,c) next to the logits (also through nested models, see
`utilities.explain._graph`), takes the K per-class gradients dy_c/dA in one vectorised backward
pass, and combines cam = ReLU(sum_k w_k A^k). Variants differ only in `channel_weights`
(the pytorch-grad-cam design): Grad-CAM uses the spatial mean of the gradients; Grad-CAM++
would weight positive gradients, Score-CAM (`needs_gradients = False`) masked-input scores.

Maps come back raw, at the layer's resolution; `base.resize_maps` (bilinear) and
`base.normalise_maps` (epsilon-safe) prepare them for display.

One image from the command line:
`python -m utilities.explain IMAGE --method gradcam --model vgg16 --layer block5_conv3`.
"""
from __future__ import annotations

import tensorflow as tf

from utilities.explain.base import CAM


class GradCAM(CAM):
    """alpha_k^c = mean over (i, j) of d y^c / d A^k_ij;  cam = ReLU(sum_k alpha_k^c A^k)."""

    name = "gradcam"
    title = "Grad-CAM"

    def channel_weights(self, x, activations, gradients, classes):
        return tf.reduce_mean(gradients, axis=(2, 3))
