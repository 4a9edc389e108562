"""Which layer's output is the image descriptor, and a model that stops there.

`--layer` takes a Keras layer name (`fc2`, `block5_pool`, ...), an alias from the handout
(`relu7`, `relu6`, `pool5`), or a negative index counted the way the handout counts in PyTorch:
`nn.Sequential(*list(vgg16.classifier.children())[:k])`, where the classifier is the seven
modules Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear. So -2 keeps up to relu7 (Keras
`fc2`), -3 stops at fc7 *before* its ReLU, -4 gives relu6 after dropout (= relu6 in inference),
-7 keeps nothing of the classifier: the flattened pool5. Keras fuses Linear and ReLU into one
Dense layer, so the pre-ReLU outputs (-3, -6) are recomputed from the Dense layer's own kernel and
bias (`PreActivation`: shared variables, no copy).

The feature model is `keras.Model(model.input, tap)` over the same graph: no weights are copied.
Convolutional layers can also be read at another input size (`image_size`): the same layer
objects are called on a new input, which only works up to `flatten` (the FC layers fix the size).
A fully convolutional network built for any input size (SqueezeNet, `input_size=None`: fire
modules branch, so there is no chain to re-call) is read from its own graph at every size.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

ALIASES = {"relu7": 1, "relu6": 0}  # index into the hidden FC layers (fc1/fc2, fc6/fc7)
POOL5 = "pool5"


@dataclass(frozen=True)
class Tap:
    """Where features are read: a layer's output, or a Dense layer's output before its ReLU."""

    request: str
    layer: str
    pre_activation: bool = False

    @property
    def label(self) -> str:
        """A short name for tables and file names, e.g. `fc2` or `fc2-prerelu`."""
        return f"{self.layer}-prerelu" if self.pre_activation else self.layer

    @property
    def description(self) -> str:
        where = f"{self.layer} before its ReLU" if self.pre_activation else self.layer
        return where if self.request == self.layer else f"{self.request} = {where}"


class PreActivation(keras.layers.Layer):
    """x @ kernel + bias of an existing Dense layer (its variables, not copies)."""

    def __init__(self, dense: keras.layers.Dense, **kwargs):
        super().__init__(dtype=dense.dtype_policy, **kwargs)
        self.dense = dense

    def call(self, x):
        y = keras.ops.matmul(x, self.dense.kernel)
        return y + self.dense.bias if self.dense.use_bias else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


def _body(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _flatten_index(layers: list[keras.layers.Layer]) -> int:
    return next((i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Flatten)), len(layers))


def _is_relu_dense(layer) -> bool:
    return isinstance(layer, keras.layers.Dense) and getattr(layer.activation, "__name__", "") == "relu"


def classifier_modules(model: keras.Model) -> list[tuple[str, bool]]:
    """The layers after `flatten` as PyTorch modules: (layer name, before ReLU?) per module."""
    modules = []
    layers = _body(model)
    for layer in layers[_flatten_index(layers) + 1:]:
        if _is_relu_dense(layer):
            modules += [(layer.name, True), (layer.name, False)]
        else:
            modules.append((layer.name, False))
    return modules


def valid_choices(model: keras.Model) -> str:
    names = ", ".join(layer.name for layer in _body(model))
    modules = len(classifier_modules(model))
    if not modules:     # no FC classifier (SqueezeNet, the keras.applications networks): names only
        return f"a layer name ({names})"
    return (f"a layer name ({names}), relu7, relu6, pool5, or -1..-{modules} "
            "(the handout's index into the classifier: -2 = relu7)")


def resolve_tap(model: keras.Model, request: str | int) -> Tap:
    """The Tap for `request`; ValueError listing the valid choices when there is none."""
    text = str(request).strip()
    layers = _body(model)
    names = [layer.name for layer in layers]
    hidden = [layer.name for layer in layers[_flatten_index(layers) + 1:] if _is_relu_dense(layer)]
    if text.lstrip("-").isdigit() and text.startswith("-"):
        modules = classifier_modules(model)
        count = -int(text)
        if not 1 <= count <= len(modules):
            raise ValueError(f"--layer {text}: out of range; use {valid_choices(model)}")
        kept = modules[: len(modules) - count]
        if not kept:
            return Tap(text, names[_flatten_index(layers)])
        return Tap(text, kept[-1][0], kept[-1][1])
    if text in ALIASES and len(hidden) > ALIASES[text]:
        return Tap(text, hidden[ALIASES[text]])
    if text == POOL5:
        pools = [layer.name for layer in layers[: _flatten_index(layers)]
                 if isinstance(layer, keras.layers.MaxPooling2D)]
        if pools:
            return Tap(text, pools[-1])
    if text in names:
        return Tap(text, text)
    raise ValueError(f"--layer {text!r}: no such layer in {model.name}; use {valid_choices(model)}")


def needs_native_size(model: keras.Model, tap: Tap) -> bool:
    """True when the tap is at or after `flatten` (the FC layers fix the input size)."""
    layers = _body(model)
    return [layer.name for layer in layers].index(tap.layer) >= _flatten_index(layers)


def check_size(model: keras.Model, tap: Tap, image_size: int | None) -> None:
    """ValueError when `tap` cannot be read at `image_size` (a layer at or after flatten, another size)."""
    native = model.inputs[0].shape[1]
    if image_size is not None and native is not None and image_size != native and needs_native_size(model, tap):
        raise ValueError(f"--image-size {image_size}: {tap.layer} comes after flatten, so the network needs "
                         f"its own {native}x{native} input; use a convolutional layer or drop --image-size")


def tap_model(model: keras.Model, tap: Tap, image_size: int | None = None) -> keras.Model:
    """A model from images to the tap's output, sharing `model`'s layers and variables.

    image_size: None (or the model's own) reads the tap from `model`'s graph; another size calls the
    same layers on a new square input, allowed for layers before `flatten` only.
    """
    layer = model.get_layer(tap.layer)
    native = model.inputs[0].shape[1]   # None: the network takes any size
    if image_size is None or native is None or image_size == native:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs   # a bare tensor in, no warning
        if tap.pre_activation:
            return keras.Model(inputs, PreActivation(layer, name=f"{layer.name}_prerelu")(layer.input),
                               name=f"{model.name}_{tap.label}")
        return _model_to_layer(model, inputs, layer, f"{model.name}_{tap.label}")
    check_size(model, tap, image_size)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    for current in _body(model):
        x = current(x)
        if current.name == tap.layer:
            break
    return keras.Model(inputs, x, name=f"{model.name}_{tap.label}_{image_size}px")


def _model_to_layer(model: keras.Model, inputs, layer, name: str) -> keras.Model:
    """keras.Model(inputs, the layer's output in `model`'s graph). A layer called more than once (a
    model re-traced from another, as a .keras file's logits model is) has several outputs: the one
    connected to `model`'s inputs is taken."""
    outputs = [layer.output] + [tensor for node in getattr(layer, "_inbound_nodes", [])
                                for tensor in node.output_tensors]
    for output in outputs:
        try:
            return keras.Model(inputs, output, name=name)
        except ValueError:        # "not connected to inputs": another call of the same layer
            continue
    raise ValueError(f"--layer {layer.name}: its output is not reachable from {model.name}'s input")
