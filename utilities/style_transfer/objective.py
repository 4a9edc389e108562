"""The function the optimisers minimise: content + style + TV loss of one picture, and its gradient.

The targets (the content image's feature map P, the style image's Gram matrices A_l) are
computed once; every evaluation then runs ONE forward pass of the generated picture through
the feature network and a backward pass to its pixels (never to the network's weights),
inside a single compiled `tf.function` traced once per picture size.

The picture being optimised is RGB (h, w, 3) in 0..255, or luminance (h, w, 1) with
--preserve-colors (repeated on three channels before the network).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from utilities.style_transfer.features import FeatureNetwork
from utilities.style_transfer.losses import content_loss, gram_matrix, gram_normalises, style_loss, tv_loss

# Justin Johnson's neural-style defaults (Torch; the most used Gatys implementation): content
# weight 5 and style weight 100 on per-element MEANS of relu4_2 and of Gram matrices divided by
# C*H*W, TV 1e-3 on the gradient of half the squared differences. In this module's sum form:
REFERENCE_CONTENT = 5.0   # content weight = 5 / (elements of the content feature map)
REFERENCE_STYLE = 100.0   # style weight of a layer with C channels = 100 / C^2
REFERENCE_TV = 5e-4       # 1e-3 / 2


@dataclass(frozen=True)
class LossWeights:
    """w_c, one w_l per style layer, w_t (losses.py's sum form)."""

    content: float
    style: tuple[float, ...]
    tv: float


def reference_weights(network: FeatureNetwork, content_shape: Sequence[int], *, content: float | None = None,
                      style: Sequence[float] | None = None, tv: float | None = None) -> LossWeights:
    """Fill the weights not given with neural-style's defaults converted to the sum form.

    The content default depends on the picture size (5 / number of elements of the content
    layer's map for `content_shape`), so the content/style balance stays the same at any size.
    """
    if content is None:
        features = network(np.zeros((1, *content_shape[:2], 3), np.float32))[network.content_layer]
        content = REFERENCE_CONTENT / int(np.prod(features.shape[1:]))
    if style is None:
        style = [REFERENCE_STYLE / network.channels[name] ** 2 for name in network.style_layers]
    if len(style) != len(network.style_layers):
        raise ValueError(f"{len(style)} style weight(s) for {len(network.style_layers)} style layer(s) "
                         f"({', '.join(network.style_layers)}); give one per layer")
    return LossWeights(float(content), tuple(float(w) for w in style), float(REFERENCE_TV if tv is None else tv))


def on_raw_grams(network: FeatureNetwork, content_shape: Sequence[int], style_weights: Sequence[float]
                 ) -> tuple[float, ...]:
    """Style weights for the handout's Gram matrices (F^T F / (H*W*C)) rewritten for the paper's raw F^T F.

    Each w_l is divided by (H_l*W_l*C_l)^2, the layer's map size at the result's size
    (`content_shape`): the raw squared difference is that much larger, so at the result's own size
    the two forms give the same loss. Gatys' 1/(4 N_l^2 M_l^2) is 1/(4 (H_l*W_l*C_l)^2), so each
    layer's term is then 4 w_l times the paper's E_l. (What still differs: the style picture's raw
    Gram matrices are sums over ITS positions, so a style picture of another area than the result
    has targets that many times larger or smaller; the handout's division removes that.)
    """
    if len(style_weights) != len(network.style_layers):
        raise ValueError(f"{len(style_weights)} style weight(s) for {len(network.style_layers)} style layer(s)")
    features = network(np.zeros((1, *content_shape[:2], 3), np.float32))
    return tuple(float(w) / float(np.prod(features[name].shape[1:])) ** 2
                 for w, name in zip(style_weights, network.style_layers, strict=True))


@dataclass(frozen=True)
class LossTerms:
    """The three weighted losses of one evaluation (Python floats)."""

    content: float
    style: float
    tv: float

    @property
    def total(self) -> float:
        return self.content + self.style + self.tv


class StyleObjective:
    """Content + style + TV loss of a picture, with targets from a content and a style image."""

    def __init__(self, network: FeatureNetwork, content: np.ndarray, style: np.ndarray, weights: LossWeights,
                 gram_normalisation: str = "handout"):
        """content, style: RGB 0..255 (h, w, 3) or luminance (h, w, 1), as the optimised picture.

        `gram_normalisation`: "handout" (G = F^T F / (H*W*C)) or "paper" (raw F^T F), losses.GRAM_NORMALISATIONS.
        """
        self.network, self.weights = network, weights
        self.normalize = gram_normalises(gram_normalisation)
        self.shape = tuple(content.shape)
        self.content_target = network(self._rgb(tf.constant(content[None], tf.float32)))[network.content_layer]
        style_features = network(self._rgb(tf.constant(style[None], tf.float32)))
        self.style_targets = [gram_matrix(style_features[name], self.normalize) for name in network.style_layers]
        self._value_and_gradient = tf.function(
            self._terms_and_gradient, input_signature=[tf.TensorSpec(self.shape, tf.float32)])

    @staticmethod
    def _rgb(batch: tf.Tensor) -> tf.Tensor:
        return batch if batch.shape[-1] == 3 else tf.repeat(batch, 3, axis=-1)

    def terms(self, image) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(content, style, TV) losses of `image` (h, w, c) as float32 tensors (differentiable)."""
        batch = tf.convert_to_tensor(image, tf.float32)[None]
        features = self.network(self._rgb(batch))
        w = self.weights
        return (content_loss(w.content, features[self.network.content_layer], self.content_target),
                style_loss([features[name] for name in self.network.style_layers], self.style_targets, w.style,
                           self.normalize),
                tv_loss(batch, w.tv))

    def _terms_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            content, style, tv = self.terms(image)
            total = content + style + tv
        return tf.stack([content, style, tv]), tape.gradient(total, image)

    def value_and_gradient(self, image) -> tuple[tf.Tensor, tf.Tensor]:
        """Compiled: ([content, style, tv], d(total)/d(image)) for an (h, w, c) float32 picture."""
        return self._value_and_gradient(tf.convert_to_tensor(image, tf.float32))

    def evaluate(self, image) -> LossTerms:
        """The three losses of `image` as Python floats."""
        values, _ = self.value_and_gradient(image)
        return LossTerms(*(float(v) for v in values.numpy()))
