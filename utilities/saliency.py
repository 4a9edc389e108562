"""Gradient saliency (Simonyan et al. 2014): which input pixels most change a class score.

`Saliency` is the base of every input-attribution method: the assignment's
`Saliency(graph, session, y, x)` becomes `Saliency(model, preprocess)` (y = the model's logits,
x = what you pass, e.g. RGB in [0, 1]) and its `Mask_GEN` is `get_mask` (batched: `explain`).
A subclass returns per-channel attributions (N, K, H, W, C) from `attribute`, the base
reduces the channels to a (H, W) map. `VanillaGradient` is the assignment's subclass:
|d logit_c / d x|, max over channels (the handout's definition) or summed (the skeleton's
helper). SmoothGrad / Integrated Gradients / guided backprop only override `attribute`
and can reuse `input_gradients`.

Run on one image: `python -m utilities.saliency IMAGE [--model vgg16] [--weights imagenet]`.
"""
from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from utilities.explanation import Explainer, Preprocess, resolve_classes, selected_logits

CHANNEL_REDUCTIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "max": lambda a: tf.reduce_max(tf.abs(a), axis=-1),   # handout: max_c |w_hwc|
    "sum": lambda a: tf.reduce_sum(tf.abs(a), axis=-1),   # skeleton helper: sum_c |w_hwc|
}


class Saliency(Explainer):
    """Base for input attributions: `attribute` -> (N,K,H,W,C), reduced over channels.

    Args:
        reduction: "max" (default) or "sum" of |attribution| over the colour channels.
    """

    name = "saliency"
    title = "Saliency"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, reduction: str = "max"):
        if reduction not in CHANNEL_REDUCTIONS:
            raise ValueError(f"reduction must be one of {sorted(CHANNEL_REDUCTIONS)}, got '{reduction}'")
        self.reduction = reduction
        super().__init__(model, preprocess, batch_size)

    def attribute(self, x: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(logits, resolved classes, per-channel attributions (N,K,H,W,C))."""
        raise NotImplementedError

    def input_gradients(self, x: tf.Tensor, classes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """d logit[n, class[n,k]] / d x[n] for every (n, k) from one forward pass.

        The K backward passes are vectorised by `batch_jacobian` (images are independent in
        a batch at inference), so the cost is one forward + K backward passes per image.
        """
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            logits = self.logits(x)
            classes = resolve_classes(tf.cast(logits, tf.float32), classes)
            scores = selected_logits(logits, classes)
        return logits, classes, tape.batch_jacobian(scores, x)

    def _explain_batch(self, x, classes):
        logits, classes, attributions = self.attribute(x, classes)
        return logits, classes, CHANNEL_REDUCTIONS[self.reduction](attributions)


class VanillaGradient(Saliency):
    """The assignment's saliency: |d class logit / d input pixel|, reduced over channels."""

    title = "Saliency |d logit / d x|"

    def attribute(self, x, classes):
        return self.input_gradients(x, classes)


if __name__ == "__main__":
    from utilities.explain_single import main
    from utilities.saliency import VanillaGradient as importable  # not __main__'s copy

    raise SystemExit(main(importable))
