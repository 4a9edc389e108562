"""Guided Backpropagation (Springenberg 2015) and Guided Grad-CAM (Selvaraju 2017).

Guided backprop changes only the backward rule of every ReLU: a gradient passes where the
forward input was positive (the ordinary ReLU rule) *and* the incoming gradient is positive.
Since the ordinary rule already multiplies by (z > 0), the guided rule is the ordinary one
applied to relu(incoming gradient). So we never touch a ReLU: we re-run the model's graph
with a "positive gradient gate" (identity forward, relu on the gradient backward) inserted
after every layer that ends in a ReLU (Conv/Dense with activation="relu"/"relu6",
`keras.layers.ReLU`, `Activation("relu")`), recursively through nested models.

The guided copy shares every layer and weight of the user's model; nothing is rebuilt,
re-initialised or globally re-registered (`gradient_override_map` would affect every model
in the process and is ignored by `GradientTape` anyway). Limitation: a ReLU applied inside
a custom layer's `call` that is followed by more maths in the same layer (or a Lambda) is
not seen; it keeps its ordinary gradient.

Run on one image: `python -m utilities.guided_backprop IMAGE [--model vgg16]`.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from utilities.explanation import Preprocess
from utilities.gradcam import GradCAM
from utilities.saliency import Saliency

RELU_ACTIVATIONS = frozenset({"relu", "relu6"})


@tf.custom_gradient
def _positive_gradient(x):
    def backward(upstream):
        return tf.nn.relu(upstream)
    return tf.identity(x), backward


class PositiveGradientGate(keras.layers.Layer):
    """Identity forward; lets only positive gradients through backward."""

    def call(self, inputs):
        return _positive_gradient(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


def ends_in_relu(layer: keras.layers.Layer) -> bool:
    """Whether the layer's last operation is a (capped) ReLU with zero negative slope."""
    if isinstance(layer, keras.layers.ReLU):
        return not float(layer.negative_slope) and not float(layer.threshold)
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in RELU_ACTIVATIONS


def _has_graph(model: keras.Model) -> bool:
    try:
        return model.inputs is not None and model.outputs is not None
    except (AttributeError, ValueError):
        return False


def rewire(model: keras.Model, after_layer) -> keras.Model:
    """Re-run `model`'s graph on a new input with `after_layer(layer, outputs)` applied to the
    outputs of every call, recursing into nested functional/Sequential models.

    Layers are shared, never copied: the result computes with the user's own weights.
    """
    if not model.built or not _has_graph(model):
        raise ValueError(f"model '{model.name}' is not a built functional/Sequential model; "
                         "build it (give it an Input) before explaining it")
    rewired_inner: dict[int, keras.Model] = {}

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model) and _has_graph(layer):
            if id(layer) not in rewired_inner:
                rewired_inner[id(layer)] = rewire(layer, after_layer)
            return rewired_inner[id(layer)](*args, **kwargs)
        return after_layer(layer, layer(*args, **kwargs))

    if isinstance(model, keras.Sequential):
        spec = model.inputs[0]
        inputs = keras.Input(batch_shape=spec.shape, dtype=spec.dtype)
        outputs = inputs
        for layer in model.layers:
            outputs = call(layer, outputs)
        return keras.Model(inputs, outputs, name=f"{model.name}_rewired")
    return keras.models.clone_model(model, clone_function=lambda same: same, call_function=call)


def guided_model(model: keras.Model) -> keras.Model:
    """The user's model with guided-ReLU gradients (same forward values, same weights)."""
    def gate(layer, outputs):
        if not ends_in_relu(layer):
            return outputs
        return PositiveGradientGate(dtype=layer.dtype_policy)(outputs)
    return rewire(model, gate)


class GuidedBackprop(Saliency):
    """d logit / d x with guided ReLUs, |.| reduced over channels."""

    name = "guided_backprop"
    title = "Guided Backprop"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, reduction: str = "max"):
        self.guided = guided_model(model)
        super().__init__(model, preprocess, batch_size, reduction)

    def logits(self, x):
        return self.guided(self.model_input(x), training=False)

    def attribute(self, x, classes):
        return self.input_gradients(x, classes)


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


if __name__ == "__main__":
    from utilities.explain_single import main

    main(GuidedBackprop)
