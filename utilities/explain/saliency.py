"""Gradient saliency (Simonyan et al. 2014): which input pixels most change a class score.

The assignment's subclass of `Saliency` (utilities/explain/base.py): |d logit_c / d x|,
max over channels (the handout's definition) or summed (the skeleton's helper). The
assignment's `Saliency(graph, session, y, x)` became `Saliency(model, preprocess)`
(y = the model's logits, x = what you pass, e.g. RGB in [0, 1]) and its `Mask_GEN` is
`get_mask` (batched: `explain`).

One image from the command line: `python -m utilities.explain IMAGE --method saliency`.
"""
from __future__ import annotations

from utilities.explain.base import CHANNEL_REDUCTIONS, Needs, Record, Saliency


class VanillaGradient(Saliency):
    """The assignment's saliency: |d class logit / d input pixel|, reduced over channels."""

    title = "Saliency |d logit / d x|"

    def attribute(self, x, classes):
        return self.input_gradients(x, classes)

    def needs(self) -> Needs:
        return Needs(input_gradients=True)

    def maps_from(self, record: Record):
        return CHANNEL_REDUCTIONS[self.reduction](record.input_gradients)
