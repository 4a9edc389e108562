"""Graph surgery shared by the methods: taps (a layer's activations next to the logits) and rewiring.

Taps. Grad-CAM needs the maps of a conv layer *and* the logits from the same forward pass. For a
flat functional model that is `keras.Model(model.input, [layer.output, model.output])`. When
the layer lives inside a nested model (`keras.Sequential([vgg16_base, Dense])`, or
`input -> base(input) -> head`), `layer.output` belongs to the inner model's own graph and is
not connected to the outer input: the classic tf-keras-vis failure on Keras 3
("... is not connected to inputs"). Here the outer graph is re-run with the nested model
replaced by a two-output copy of itself, recursively, sharing every layer and weight.

The user's model is never modified: no layer is added, removed, rebuilt or re-initialised,
its weights, config and outputs stay exactly as they were.

Rewiring (guided backprop). The graph is re-run with a "positive gradient gate" (identity
forward, relu on the gradient backward) after every layer that ends in a ReLU, recursively
through nested models; the copy shares every layer and weight of the user's model.
"""
from __future__ import annotations

import keras
import tensorflow as tf


class LayerNotFoundError(ValueError):
    """The requested layer is not in the model; the message lists the candidates."""


def _spatial_layer_names(model: keras.Model, prefix: str = "") -> list[str]:
    """Paths of every layer (also nested) whose output is 4-D (batch, h, w, channels)."""
    names = []
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model):
            names += _spatial_layer_names(layer, prefix=f"{path}/")
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            names.append(path)
    return names


def last_spatial_layer(model: keras.Model) -> str:
    """Path of the last layer with a 4-D output: the usual Grad-CAM default for any CNN."""
    names = _spatial_layer_names(model)
    if not names:
        raise LayerNotFoundError(f"model '{model.name}' has no layer with a 4-D (spatial) output")
    return names[-1]


def find_layer_path(model: keras.Model, name: str) -> list[str]:
    """Resolve `name` ("block5_conv3" or "vgg16/block5_conv3") to the chain of layer names.

    A bare name is searched depth-first through nested models; it must be unique.
    """
    if "/" in name:
        path, current = name.split("/"), model
        for i, part in enumerate(path):
            try:
                current = current.get_layer(part)
            except ValueError:
                raise LayerNotFoundError(_not_found_message(model, name)) from None
            if i < len(path) - 1 and not isinstance(current, keras.Model):
                raise LayerNotFoundError(_not_found_message(model, name))
        return path
    matches = _find_all(model, name)
    if not matches:
        raise LayerNotFoundError(_not_found_message(model, name))
    if len(matches) > 1:
        options = ", ".join("/".join(m) for m in matches)
        raise LayerNotFoundError(f"layer name '{name}' is ambiguous in model '{model.name}'; "
                                 f"use one of: {options}")
    return matches[0]


def _find_all(model: keras.Model, name: str) -> list[list[str]]:
    found = []
    for layer in model.layers:
        if layer.name == name:
            found.append([layer.name])
        if isinstance(layer, keras.Model):
            found += [[layer.name] + sub for sub in _find_all(layer, name)]
    return found


def _not_found_message(model: keras.Model, name: str) -> str:
    candidates = _spatial_layer_names(model)
    shown = ", ".join(candidates[-8:]) if candidates else "none"
    return (f"layer '{name}' not found in model '{model.name}'; "
            f"layers with spatial (4-D) outputs: {shown}")


def get_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer object for a bare or slash-separated name (see `find_layer_path`)."""
    layer = model
    for part in find_layer_path(model, name):
        layer = layer.get_layer(part)
    return layer


def tap_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model with the same input and outputs `[activations of layer_name, model output]`.

    Works on flat functional models, built Sequential models, and any nesting of them.
    The returned model shares the user's layers (no copy of the weights).
    """
    if not model.built or not _has_graph(model):
        raise ValueError(f"model '{model.name}' is not a built functional/Sequential model; "
                         "build it (give it an Input) before explaining it")
    return _tap(model, find_layer_path(model, layer_name))


def _has_graph(model: keras.Model) -> bool:
    try:
        return model.inputs is not None and model.outputs is not None
    except (AttributeError, ValueError):
        return False


def _single(tensors):
    return tensors[0] if isinstance(tensors, (list, tuple)) and len(tensors) == 1 else tensors


def _tap(model: keras.Model, path: list[str]) -> keras.Model:
    """Re-run `model`'s graph on a new input, capturing the output of the layer at `path`.

    The graph is re-run rather than read from `layer.output` because a layer shared by
    several graphs (a base model's layers reused in a flat model) has one output per call,
    and only the call inside *this* graph is connected to this model's input.
    """
    target = model.get_layer(path[0])
    if len(path) > 1 and not _has_graph(target):
        raise ValueError(f"nested model '{target.name}' is not functional; cannot reach '{path[-1]}'")
    inner = _tap(target, path[1:]) if len(path) > 1 else None
    captured = []

    def call_with_tap(operation, *args, **kwargs):
        if operation is not target:
            return operation(*args, **kwargs)
        if captured:
            raise ValueError(f"layer '{target.name}' is called more than once in model "
                             f"'{model.name}'; cannot tell which call to explain")
        if inner is None:
            outputs = operation(*args, **kwargs)
            captured.append(outputs)
            return outputs
        activations, *outputs = inner(*args, **kwargs)
        captured.append(activations)
        return _single(outputs)

    if isinstance(model, keras.Sequential):
        spec = model.inputs[0]  # Sequential.input raises before the model is called
        inputs = keras.Input(batch_shape=spec.shape, dtype=spec.dtype)
        outputs = inputs
        for layer in model.layers:
            outputs = call_with_tap(layer, outputs)
    else:
        rebuilt = keras.models.clone_model(model, clone_function=lambda same: same,
                                           call_function=call_with_tap)
        inputs, outputs = rebuilt.input, rebuilt.output
    if not captured:
        raise ValueError(f"layer '{target.name}' is not on the path from the input to the output "
                         f"of model '{model.name}'")
    return keras.Model(inputs, [captured[0], outputs], name=f"{model.name}_tap")


# --------------------------------------------------------------------------- rewiring

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
