"""One forward pass for every content and style layer: a multi-output view of the project's VGG.

`feature_network` builds the network through `models.build_model` (so every weight source and
its shape checks are the ones the rest of the project uses), then calls the SAME convolution
and pooling layers on a new input of any height and width, up to the deepest layer needed.
The result is a `keras.Model` sharing its variables with the network (nothing is copied; the
fully-connected head, which fixes the input at 224x224, is simply not called and is freed).

Precision: "float32", or "bfloat16" (Keras' mixed_bfloat16 policy on the reused layers:
convolutions compute in bfloat16 on float32 weights; the features are cast back to float32
before any loss, see losses.py).
"""
from __future__ import annotations

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


def build_extractor(model: keras.Model, layer_names: Sequence[str], *, precision: str = "float32") -> keras.Model:
    """A multi-output model over `model`'s own layers, any input size, outputs in `layer_names` order."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    chain = conv_chain(model)
    available = [layer.name for layer in chain if isinstance(layer, keras.layers.Conv2D)]
    unknown = [name for name in layer_names if name not in available]
    if unknown:
        raise LayerChoiceError(f"layer(s) {', '.join(unknown)} not in {model.name}; "
                               f"its convolution layers are {', '.join(available)}")
    wanted = list(dict.fromkeys(layer_names))
    inputs = keras.Input((None, None, model.input_shape[-1]), name="image")
    x, found = inputs, {}
    for layer in chain:
        layer.dtype_policy = PRECISIONS[precision]
        x = layer(x)
        if layer.name in wanted:
            found[layer.name] = x
            if len(found) == len(wanted):
                break
    return keras.Model(inputs, [found[name] for name in wanted], name=f"{model.name}_features")


def feature_network_from_model(model: keras.Model, preprocess: Callable, content_layer: str,
                               style_layers: Sequence[str], *, precision: str = "float32") -> FeatureNetwork:
    """Wrap `model` (a VGG-like network) as a FeatureNetwork for these layers."""
    if not style_layers:
        raise LayerChoiceError("at least one style layer is needed")
    layers = tuple(dict.fromkeys([content_layer, *style_layers]))
    extractor = build_extractor(model, layers, precision=precision)
    channels = {name: int(model.get_layer(name).filters) for name in layers}
    return FeatureNetwork(extractor, preprocess, layers, content_layer, tuple(style_layers), channels, precision)


def feature_network(model_name: str, weights, content_layer: str, style_layers: Sequence[str], *,
                    precision: str = "float32") -> FeatureNetwork:
    """Build `model_name` with `weights` ("imagenet" | "random" | a file) via models.build_model."""
    spec = models.get_spec(model_name)
    model = models.build_model(model_name, weights=weights)
    return feature_network_from_model(model, spec.preprocess, content_layer, style_layers, precision=precision)
