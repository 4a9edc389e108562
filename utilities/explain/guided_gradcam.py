"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the upsampled Grad-CAM map.

Fine detail from guided backprop, class specificity from Grad-CAM. The method is by
definition the product of those two, so it composes the two explainers.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from utilities.explain.base import Preprocess
from utilities.explain.gradcam import GradCAM
from utilities.explain.guided_backprop import GuidedBackprop


class GuidedGradCAM(GuidedBackprop):
    """Guided backprop x Grad-CAM upsampled (bilinear) to the input: fine detail, class-specific.

    `layer` as for `GradCAM` (None: the last 4-D layer).
    """

    name = "guided_gradcam"
    title = "Guided Grad-CAM"

    def __init__(self, model: keras.Model, layer: str | None = None,
                 preprocess: Preprocess | None = None, batch_size: int = 8, reduction: str = "max"):
        self.gradcam = GradCAM(model, layer, preprocess, batch_size)
        self.layer = self.gradcam.layer
        super().__init__(model, preprocess, batch_size, reduction)

    def attribute(self, x, classes):
        logits, classes, guided = self.input_gradients(x, classes)
        _, _, cams = self.gradcam._explain_batch(x, classes)  # classes resolved: no re-ranking
        size = tf.shape(x)[1:3]
        n, k = tf.shape(cams)[0], tf.shape(cams)[1]
        flat = tf.reshape(cams, tf.concat([[n * k], tf.shape(cams)[2:], [1]], axis=0))
        upsampled = tf.reshape(tf.image.resize(flat, size, method="bilinear"),
                               tf.concat([[n, k], size, [1]], axis=0))
        return logits, classes, guided * upsampled
