"""One forward pass for every content and style layer: a multi-output view of the project's networks.

`feature_network` builds the network through `models.build_model` (so every weight source and
its shape checks are the ones the rest of the project uses) and returns a `keras.Model` from an
input of any height and width to the wanted maps, sharing its variables with the network
(nothing is copied):

- VGG (a sequential convolution chain under a fully-connected head that fixes the input at
  224x224): the SAME convolution and pooling layers are called again on a new input of any
  size, up to the deepest layer needed; the head is simply not called and is freed.
- A fully convolutional network (SqueezeNet: fire modules branch and concatenate, so there is
  no chain) is built with `input_size=None` by its builder, and the extractor is the network's
  own graph cut at the wanted layers (`keras.Model(model.input, [layer outputs])`).

Precision: "float32", or "bfloat16" (Keras' mixed_bfloat16 policy on the reused layers:
convolutions compute in bfloat16 on float32 weights; the features are cast back to float32
before any loss, see losses.py).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf

import models

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


class LayerChoiceError(ValueError):
    """A content or style layer the network does not have (the message lists those it has)."""


@dataclass
class FeatureNetwork:
    """`extractor` maps preprocessed (N, H, W, 3) images to the maps of `layers`, in that order."""

    extractor: keras.Model
    preprocess: Callable
    layers: tuple[str, ...]
    content_layer: str
    style_layers: tuple[str, ...]
    channels: dict[str, int]
    precision: str = "float32"

    def __call__(self, rgb) -> dict[str, tf.Tensor]:
        """RGB 0..255 (N, H, W, 3) -> {layer: float32 feature map}, from one forward pass."""
        outputs = self.extractor(self.preprocess(tf.convert_to_tensor(rgb, tf.float32)), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {name: tf.cast(out, tf.float32) for name, out in zip(self.layers, outputs, strict=True)}


def conv_chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers from the input up to (not including) `flatten`: VGG's convolution/pooling chain."""
    chain = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, (keras.layers.Flatten, keras.layers.Dense)):
            break
        chain.append(layer)
    return chain


def _any_size(model: keras.Model) -> bool:
    """True when the model's own input takes any height and width (a fully convolutional network)."""
    return tuple(model.input_shape[1:3]) == (None, None)


def _tap_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers whose maps can be content or style targets: convolutions (and, in a fully
    convolutional network, the concatenations that are modules' outputs, e.g. `fire2_concat`)."""
    if not _any_size(model):
        return [layer for layer in conv_chain(model) if isinstance(layer, keras.layers.Conv2D)]
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Concatenate))]


def build_extractor(model: keras.Model, layer_names: Sequence[str], *, precision: str = "float32") -> keras.Model:
    """A multi-output model over `model`'s own layers, any input size, outputs in `layer_names` order."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    available = [layer.name for layer in _tap_layers(model)]
    unknown = [name for name in layer_names if name not in available]
    if unknown:
        raise LayerChoiceError(f"layer(s) {', '.join(unknown)} not in {model.name}; "
                               f"its convolution layers are {', '.join(available)}")
    wanted = list(dict.fromkeys(layer_names))
    if _any_size(model):
        extractor = keras.Model(model.input, [model.get_layer(name).output for name in wanted],
                                name=f"{model.name}_features")
        for layer in extractor.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                layer.dtype_policy = PRECISIONS[precision]
        return extractor
    inputs = keras.Input((None, None, model.input_shape[-1]), name="image")
    x, found = inputs, {}
    for layer in conv_chain(model):
        layer.dtype_policy = PRECISIONS[precision]
        x = layer(x)
        if layer.name in wanted:
            found[layer.name] = x
            if len(found) == len(wanted):
                break
    return keras.Model(inputs, [found[name] for name in wanted], name=f"{model.name}_features")


def feature_network_from_model(model: keras.Model, preprocess: Callable, content_layer: str,
                               style_layers: Sequence[str], *, precision: str = "float32") -> FeatureNetwork:
    """Wrap `model` (a VGG-like network, or a fully convolutional one) as a FeatureNetwork for these layers."""
    if not style_layers:
        raise LayerChoiceError("at least one style layer is needed")
    layers = tuple(dict.fromkeys([content_layer, *style_layers]))
    extractor = build_extractor(model, layers, precision=precision)
    channels = {name: int(model.get_layer(name).output.shape[-1]) for name in layers}
    return FeatureNetwork(extractor, preprocess, layers, content_layer, tuple(style_layers), channels, precision)


def feature_network(model_name: str, weights, content_layer: str, style_layers: Sequence[str], *,
                    precision: str = "float32") -> FeatureNetwork:
    """Build `model_name` with `weights` ("imagenet" | "random" | a file) via models.build_model."""
    spec = models.get_spec(model_name, weights)   # torchvision weights bring their own preprocessing
    # A builder that can make the network for any input size (SqueezeNet) is asked to.
    any_size = {"input_size": None} if "input_size" in inspect.signature(spec.builder).parameters else {}
    model = models.build_model(model_name, weights=weights, **any_size)
    return feature_network_from_model(model, spec.preprocess, content_layer, style_layers, precision=precision)
