"""The fully-connected head shared by AlexNet and VGG16, and the remove-fc surgery.

Both networks end in FC(4096) -> dropout -> FC(4096) -> dropout -> FC(classes). Transfer
learning in the assignment removes the last FC layer (remove_fc=1) or the last two
(remove_fc=2) and puts a new `classifier` layer in their place.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras

CLASSIFIER = "classifier"


def add_fc_head(x, names: Sequence[str], *, widths: Sequence[int], num_classes: int,
                remove_fc: int = 0, dropout: float = 0.5):
    """Append the FC head to `x`. `names` are the three FC layer names, last one the output."""
    if remove_fc not in (0, 1, 2):
        raise ValueError(f"remove_fc must be 0, 1 or 2, got {remove_fc!r}")
    hidden = list(zip(names[:2], widths, strict=False))[: 2 - max(remove_fc - 1, 0)]
    for name, width in hidden:
        x = keras.layers.Dense(width, activation="relu", name=name)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    out_name = names[2] if remove_fc == 0 else CLASSIFIER
    # Logits in float32 even under mixed precision: losses and saliency need the precision.
    return keras.layers.Dense(num_classes, name=out_name, dtype="float32")(x)


def kept_fc_layers(names: Sequence[str], remove_fc: int) -> list[str]:
    """The original FC layers still present after removing `remove_fc` of them."""
    return list(names[: len(names) - remove_fc])


def default_train_layers(names: Sequence[str], remove_fc: int) -> list[str]:
    """The new head plus the FC layer right below it: the skeleton's `['fc8', 'fc7']`.

    remove_fc=0 -> [fc8, fc7]; remove_fc=1 -> [classifier, fc7]; remove_fc=2 -> [classifier, fc6].
    """
    kept = kept_fc_layers(names, remove_fc)
    head = kept[-1] if remove_fc == 0 else CLASSIFIER
    below = kept[-2] if remove_fc == 0 else kept[-1]
    return [head, below]


def set_trainable(model: keras.Model, layer_names: Sequence[str]) -> None:
    """Make exactly the named layers trainable (and every other layer frozen).

    Unknown names raise a ValueError listing the layers that have weights.
    """
    with_weights = [layer.name for layer in model.layers if layer.weights]
    unknown = [n for n in layer_names if n not in with_weights]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown} for --train-layers; layers with weights: "
                         f"{', '.join(with_weights)}")
    wanted = set(layer_names)
    model.trainable = True
    for layer in model.layers:
        layer.trainable = layer.name in wanted
