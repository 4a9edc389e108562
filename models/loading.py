"""The one place weights enter a model: every array's shape is checked, by layer name."""
from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np

from models.weight_formats import Weights, WeightsError


def assign_weights(model: keras.Model, weights: Weights, *, source: str,
                   optional: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[str]:
    """Copy `weights[layer.name]` into every layer of `model` that has weights.

    Layers named in `optional` (the new head of a fine-tuning model) keep their fresh
    initialisation when the file has no entry for them. `ignore` names file entries that
    may be left over (layers removed by remove-fc). Any other missing layer, any unused
    entry, or any shape mismatch raises WeightsError naming the layer. Returns the names
    of the layers that were loaded.
    """
    optional, ignore = set(optional), set(ignore)
    loaded, errors = [], []
    for layer in model.layers:
        targets = layer.weights
        if not targets:
            continue
        arrays = weights.get(layer.name)
        if arrays is None:
            if layer.name not in optional:
                errors.append(f"layer {layer.name!r} has no weights in the file")
            continue
        if len(arrays) != len(targets):
            errors.append(f"layer {layer.name!r}: file has {len(arrays)} arrays, model needs {len(targets)}")
            continue
        shapes_ok = True
        for array, variable in zip(arrays, targets, strict=True):
            if tuple(np.shape(array)) != tuple(variable.shape):
                if layer.name in optional:  # e.g. a 1000-way head in the file, 10-way in the model
                    shapes_ok = False
                    break
                errors.append(f"layer {layer.name!r}: {variable.path.rsplit('/', 1)[-1]} has shape "
                              f"{tuple(np.shape(array))} in the file, the model needs {tuple(variable.shape)}")
                shapes_ok = False
        if shapes_ok:
            layer.set_weights([np.asarray(a, dtype=np.float32) for a in arrays])
            loaded.append(layer.name)
    unused = sorted(set(weights) - {layer.name for layer in model.layers} - ignore)
    if unused:
        errors.append(f"entries not in the model: {', '.join(unused)}")
    if errors:
        raise WeightsError(f"{source} does not fit {model.name}: " + "; ".join(errors))
    return loaded
