"""Grad-CAM (Selvaraju et al. 2017): where in a conv layer's maps the class evidence lies.

`CAM` is the base of the class-activation-map family: it runs the model once exposing the
layer's maps A (N,h,w,c) next to the logits (also through nested models, see
`utilities.model_taps`), takes the K per-class gradients dy_c/dA in one vectorised backward
pass, and combines cam = ReLU(sum_k w_k A^k). Variants differ only in `channel_weights`
(the pytorch-grad-cam design): Grad-CAM uses the spatial mean of the gradients; Grad-CAM++
would weight positive gradients, Score-CAM (`needs_gradients = False`) masked-input scores.

Maps come back raw, at the layer's resolution; `explanation.resize_maps` (bilinear) and
`explanation.normalise_maps` (epsilon-safe) prepare them for display.

Run on one image: `python -m utilities.gradcam IMAGE [--model vgg16] [--layer block5_conv3]`.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from utilities.explanation import Explainer, Preprocess, resolve_classes, selected_logits
from utilities.model_taps import last_spatial_layer, tap_model


class CAM(Explainer):
    """Base for class activation maps over the layer `layer` (None: last 4-D layer).

    `layer` may name a layer inside a nested model ("block5_conv3" or "vgg16/block5_conv3").
    """

    name = "cam"
    title = "CAM"
    needs_gradients = True

    def __init__(self, model: keras.Model, layer: str | None = None,
                 preprocess: Preprocess | None = None, batch_size: int = 8):
        self.layer = layer or last_spatial_layer(model)
        self.tapped = tap_model(model, self.layer)
        if len(self.tapped.outputs[0].shape) != 4:
            raise ValueError(f"layer '{self.layer}' output has shape {self.tapped.outputs[0].shape}; "
                             "CAM needs a 4-D (batch, h, w, channels) conv layer")
        super().__init__(model, preprocess, batch_size)

    def channel_weights(self, x: tf.Tensor, activations: tf.Tensor, gradients: tf.Tensor | None,
                        classes: tf.Tensor) -> tf.Tensor:
        """Weights (N, K, c) of the layer's channels for each explained class."""
        raise NotImplementedError

    def layer_maps(self, x: tf.Tensor, classes: tf.Tensor):
        """(logits, resolved classes, activations (N,h,w,c) fp32, gradients (N,K,h,w,c) or None)."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)  # records the forward pass; only the head is differentiated below
            activations, logits = self.tapped(self.model_input(x), training=False)
            classes = resolve_classes(tf.cast(logits, tf.float32), classes)
            scores = selected_logits(logits, classes)
        gradients = None
        if self.needs_gradients:
            gradients = tf.cast(tape.batch_jacobian(scores, activations), tf.float32)
        return logits, classes, tf.cast(activations, tf.float32), gradients

    def _explain_batch(self, x, classes):
        logits, classes, activations, gradients = self.layer_maps(x, classes)
        weights = self.channel_weights(x, activations, gradients, classes)
        cams = tf.nn.relu(tf.einsum("nhwc,nkc->nkhw", activations, weights))
        return logits, classes, cams


class GradCAM(CAM):
    """alpha_k^c = mean over (i, j) of d y^c / d A^k_ij;  cam = ReLU(sum_k alpha_k^c A^k)."""

    name = "gradcam"
    title = "Grad-CAM"

    def channel_weights(self, x, activations, gradients, classes):
        return tf.reduce_mean(gradients, axis=(2, 3))


if __name__ == "__main__":
    from utilities.explain_single import main
    from utilities.gradcam import GradCAM as importable  # not __main__'s copy

    raise SystemExit(main(importable))
