"""Guided Backpropagation (Springenberg et al. 2015): input gradients through "guided" ReLUs.

Guided backprop changes only the backward rule of every ReLU: a gradient passes where the
forward input was positive (the ordinary ReLU rule) *and* the incoming gradient is positive.
Since the ordinary rule already multiplies by (z > 0), the guided rule is the ordinary one
applied to relu(incoming gradient). So we never touch a ReLU: `_graph.guided_model` re-runs
the model's graph with a "positive gradient gate" (identity forward, relu on the gradient
backward) inserted after every layer that ends in a ReLU (Conv/Dense with activation="relu"/"relu6",
`keras.layers.ReLU`, `Activation("relu")`), recursively through nested models.

The guided copy shares every layer and weight of the user's model; nothing is rebuilt,
re-initialised or globally re-registered (`gradient_override_map` would affect every model
in the process and is ignored by `GradientTape` anyway). Limitation: a ReLU applied inside
a custom layer's `call` that is followed by more maths in the same layer (or a Lambda) is
not seen; it keeps its ordinary gradient.

One image from the command line: `python -m utilities.explain IMAGE --method guided_backprop`.
"""
from __future__ import annotations

import keras

from utilities.explain._graph import guided_model
from utilities.explain.base import Preprocess, Saliency


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
