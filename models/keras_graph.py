"""Reading any Keras model's graph: its layers in call order (through nested models), the last
layer with a 4-D output, one flat model out of a nested one, and logits split off a final softmax.

A user's model often wraps a `keras.applications` base: `Sequential([base, pooling, Dense])` or
`inputs -> base(inputs) -> head`. The base is then a single "layer" of the outer model and its
own layers (the class-map layer among them) belong to the base's graph. `trace` re-runs the outer
graph on a new symbolic input, calling the base's layers one by one in its place (inlining), so
the result is one flat functional model whose layers are the same objects (same weights, nothing
copied) and whose layer names are the leaf names (`conv5_block3_out`, not `resnet50/...`).
Flattening needs every layer name to be unique across the nesting (Keras refuses a model with two
operations of one name); where they clash the model is kept nested and layers are named by path
(`resnet50/conv5_block3_out`), which the explanation methods also resolve.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

SOFTMAX = "softmax"
# Layers after the last feature maps that only pool, pad or drop: the class-map default looks before them.
_AFTER_FEATURES = frozenset({"MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Dropout", "SpatialDropout2D",
                             "GaussianDropout", "GaussianNoise", "ActivityRegularization"})


@dataclass(frozen=True)
class Call:
    """One operation call met while tracing: its path ('base/conv1' inside a nested model), the
    operation, and the shape of its (single) output, or None when it has several."""

    path: str
    operation: object
    shape: tuple | None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_layer(self) -> bool:
        """A keras Layer (reachable by name); a bare op (`x + y`, `keras.ops.add`) is not."""
        return isinstance(self.operation, keras.layers.Layer)

    @property
    def spatial(self) -> bool:
        return self.shape is not None and len(self.shape) == 4


def _is_graph_model(layer) -> bool:
    if not isinstance(layer, keras.Model):
        return False
    try:
        return layer.inputs is not None and layer.outputs is not None
    except (AttributeError, ValueError):
        return False


def _shape(outputs) -> tuple | None:
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            return None
        outputs = outputs[0]
    shape = getattr(outputs, "shape", None)
    return tuple(shape) if shape is not None else None


def _input_spec(model: keras.Model):
    inputs = model.inputs
    if len(inputs) != 1:
        raise ValueError(f"model '{model.name}' has {len(inputs)} inputs")
    return inputs[0]


def trace(model: keras.Model, *, inline: bool = True,
          replace: Callable[[str, object], Callable | None] | None = None) -> tuple[keras.Model, list[Call]]:
    """Re-run `model`'s graph on a new symbolic input; returns (the new model, every call in order).

    inline: nested functional/Sequential models are run layer by layer in the outer graph (the new
    model is flat) rather than called whole. replace(path, operation): a callable to call instead of
    that operation, or None to keep it. Layers are shared with `model`, never copied. Raises
    ValueError when Keras refuses the new graph (e.g. two layers of one name once flattened).
    """
    calls: list[Call] = []

    def run(operation, prefix: str, args, kwargs):
        path = f"{prefix}{operation.name}"
        substitute = replace(path, operation) if replace else None
        if substitute is not None:
            outputs = substitute(*args, **kwargs)
            calls.append(Call(path, operation, _shape(outputs)))
            return outputs
        if inline and _is_graph_model(operation):
            return run_nested(operation, f"{path}/", args, kwargs)
        if not isinstance(operation, keras.layers.Layer):
            kwargs.pop("training", None)
        outputs = operation(*args, **kwargs)
        calls.append(Call(path, operation, _shape(outputs)))
        return outputs

    def run_nested(inner: keras.Model, prefix: str, args, kwargs):
        training = kwargs.get("training")
        extra = {} if training is None else {"training": training}
        if isinstance(inner, keras.Sequential):
            x = args[0]
            for layer in inner.layers:
                x = run(layer, prefix, (x,), dict(extra))
            return x

        def operation_fn(operation):
            def call(*a, **k):
                if extra and isinstance(operation, keras.layers.Layer):
                    k = {**extra, **k}
                return run(operation, prefix, a, k)
            return call

        return inner._run_through_graph(args[0], operation_fn=operation_fn)

    spec = _input_spec(model)
    inputs = keras.Input(batch_shape=spec.shape, dtype=spec.dtype)
    if isinstance(model, keras.Sequential):
        outputs = inputs
        for layer in model.layers:
            outputs = run(layer, "", (outputs,), {})
    else:
        def top(operation):
            return lambda *a, **k: run(operation, "", a, dict(k))
        outputs = model._run_through_graph(inputs, operation_fn=top)
    if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        outputs = outputs[0]
    return keras.Model(inputs, outputs, name=model.name), calls


def calls_of(model: keras.Model) -> list[Call]:
    """Every operation call of `model` in order, nested models expanded (paths 'base/layer')."""
    try:
        return trace(model, inline=True)[1]
    except ValueError:       # names clash once flattened: walk the nested graph without building it
        return nested_calls(model)


def nested_calls(model: keras.Model) -> list[Call]:
    calls: list[Call] = []

    def record(path, operation, outputs):
        calls.append(Call(path, operation, _shape(outputs)))

    def walk(inner, prefix):
        for layer in inner.layers:
            if _is_graph_model(layer):
                walk(layer, f"{prefix}{layer.name}/")
                continue
            try:
                record(f"{prefix}{layer.name}", layer, layer.output)
            except (AttributeError, ValueError):
                continue
    walk(model, "")
    return calls


def spatial_layers(calls: list[Call]) -> list[str]:
    """Paths of the layers (not bare ops, not inputs) with a 4-D output, in call order."""
    return [c.path for c in calls if c.spatial and c.is_layer and not isinstance(c.operation, keras.layers.InputLayer)]


def last_spatial_layer(calls: list[Call]) -> tuple[str, str] | None:
    """(path, reason) of the last layer with a 4-D output, or None when there is none.

    A later 4-D bare operation (`x + y` at the end of ConvNeXt's last block) cannot be tapped by
    name; the reason then says which one was passed over.
    """
    layers = spatial_layers(calls)
    if not layers:
        return None
    by_path = {c.path: c for c in calls}
    passed = []     # trailing local pooling/padding/dropout: the maps before them are finer (VGG's block5_conv3)
    while len(layers) > 1 and type(by_path[layers[-1]].operation).__name__ in _AFTER_FEATURES:
        passed.append(layers.pop())
    path = layers[-1]
    index = max(i for i, c in enumerate(calls) if c.path == path)
    skipped = [c.path for c in calls[index + 1:] if c.spatial and not c.is_layer]
    reason = "the last layer with a 4-D (feature map) output"
    if passed:
        reason += f", before '{passed[0]}' ({type(by_path[passed[0]].operation).__name__}: no finer maps)"
    if skipped:
        reason += (f"; the later operation '{skipped[-1]}' is not a layer and cannot be tapped, "
                   f"so the map misses what it adds")
    return path, reason


class LayerLookupError(ValueError):
    """A layer name that is not in the model, or names several layers; one line with the candidates."""


def resolve_layer(calls: list[Call], name: str, model_name: str) -> Call:
    """The layer called `name`: a path ('resnet50/conv5_block3_out') or a bare name, unique at any
    depth of nesting (as utilities/explain resolves it)."""
    layers = [c for c in calls if c.is_layer]
    matches = [c for c in layers if (c.path if "/" in name else c.name) == name]
    if not matches:
        shown = ", ".join(spatial_layers(calls)[-8:]) or "none"
        raise LayerLookupError(f"layer '{name}' not found in model '{model_name}'; "
                               f"layers with 4-D outputs (the last 8): {shown}")
    paths = sorted({c.path for c in matches})
    if len(paths) > 1:
        raise LayerLookupError(f"layer name '{name}' is ambiguous in model '{model_name}'; "
                               f"use one of: {', '.join(paths)}")
    return matches[0]


# ------------------------------------------------------------------------------ final softmax

def _activation_name(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)


def final_activation(operation) -> str | None:
    """'softmax' when `operation` ends in a softmax (Dense(..., activation='softmax'),
    Activation('softmax'), Softmax(), keras.ops.softmax), else its activation's name or None."""
    if isinstance(operation, keras.layers.Softmax):
        return SOFTMAX
    if type(operation).__name__ == "Softmax" and not isinstance(operation, keras.layers.Layer):
        return SOFTMAX            # keras.ops.softmax on a symbolic tensor
    return _activation_name(operation)


def without_activation(operation) -> Callable:
    """A callable computing `operation` without its final activation.

    A layer whose own activation is the softmax (Dense, Conv2D, ...) is copied with a linear
    activation and the same weights (the copy keeps the name; the original is left untouched);
    a softmax on its own (Activation, Softmax, ops.softmax) becomes the identity.
    """
    if isinstance(operation, (keras.layers.Activation, keras.layers.Softmax)) or not isinstance(
            operation, keras.layers.Layer):
        return lambda x, *args, **kwargs: x
    config = {**operation.get_config(), "activation": "linear"}
    copy = type(operation).from_config(config)

    def call(*args, **kwargs):
        outputs = copy(*args, **kwargs)
        if not getattr(call, "loaded", False):
            copy.set_weights(operation.get_weights())
            call.loaded = True
        return outputs

    return call
