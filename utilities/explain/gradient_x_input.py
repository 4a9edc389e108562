"""Gradient x Input (Shrikumar et al. 2016): each pixel's value times the class gradient there.

attribution_c(x) = x * d logit_c / d x, per colour channel, then |.| summed over the channels
(`reduction="sum"`, the default here; "max" as for saliency). It weighs the gradient by how
much of the pixel there is: a first-order estimate of each pixel's contribution relative to
an all-zero input (for a linear model it is exactly w * x). `x` is what you pass (RGB in
[0, 1] for the assignment's images), so zero means black, as Integrated Gradients' default
baseline here. It shares the saliency gradient of a shared pass, so it costs nothing extra.

One image from the command line: `python -m utilities.explain IMAGE --method gradient_x_input`.
"""
from __future__ import annotations

import keras

from utilities.explain.base import CHANNEL_REDUCTIONS, Needs, Preprocess, Record, Saliency


class GradientXInput(Saliency):
    """x * d logit / d x, |.| reduced over channels (sum by default)."""

    name = "gradient_x_input"
    title = "Gradient x Input"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, reduction: str = "sum"):
        super().__init__(model, preprocess, batch_size, reduction)

    def attribute(self, x, classes):
        logits, classes, gradients = self.input_gradients(x, classes)
        return logits, classes, x[:, None] * gradients

    def needs(self) -> Needs:
        return Needs(input_gradients=True)

    def maps_from(self, record: Record):
        return CHANNEL_REDUCTIONS[self.reduction](record.x[:, None] * record.input_gradients)
