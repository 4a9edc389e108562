"""The three losses of Gatys et al. (2015), in the form of the CS7643 A3 handout.

Every function is a plain sum a reader can check against the paper (tests compare each with a
NumPy reference and its gradient with finite differences). Feature maps are channels-last
(N, H, W, C), as Keras produces them; anything computed in bfloat16 is cast to float32 first, so
sums over millions of elements never lose their precision.

- content: `w_c * sum((F - P)^2)` over one layer's feature map (Gatys: 1/2 instead of w_c).
- Gram matrix: `G = F^T F / (H * W * C)` with F the (H*W, C) reshaped map (the handout's
  `normalize=True`); `normalize=False` gives the paper's raw `G = F^T F`. Gatys' per-layer style
  term `E_l = sum((G - A)^2) / (4 N_l^2 M_l^2)` (N_l = C, M_l = H*W) is this loss on raw Gram
  matrices with `w_l = 1 / (4 N_l^2 M_l^2)`, i.e. on normalised ones with `w_l = 1/4`.
- style: `sum_l w_l * sum((G_l - A_l)^2)`, A_l the style image's Gram matrices.
- GRAM_NORMALISATIONS names the two Gram forms (the CLI's --gram-normalisation): "handout"
  divides F^T F by H*W*C, "paper" divides by nothing (Gatys' raw G = F^T F).
- total variation: `w_t * sum of squared differences between vertical and horizontal neighbours`.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

# --gram-normalisation's choices: what F^T F is divided by (the first is the default)
GRAM_NORMALISATIONS = {"handout": "H*W*C", "paper": "1"}


def gram_normalises(name: str) -> bool:
    """True for the handout's form (F^T F / (H*W*C)), False for the paper's raw F^T F."""
    if name not in GRAM_NORMALISATIONS:
        raise ValueError(f"Gram normalisation must be one of {', '.join(GRAM_NORMALISATIONS)}, got {name!r}")
    return name == "handout"


def _f32(x) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    return x if x.dtype in (tf.float32, tf.float64) else tf.cast(x, tf.float32)


def _scalar(value, dtype) -> tf.Tensor:
    """A weight in the loss' dtype (a Python float straight to float64, not through float32)."""
    return tf.cast(value, dtype) if tf.is_tensor(value) else tf.constant(value, dtype)


def content_loss(content_weight: float, current, original) -> tf.Tensor:
    """`content_weight * sum((current - original)^2)`: feature maps of one layer."""
    current, original = _f32(current), _f32(original)
    return _scalar(content_weight, current.dtype) * tf.reduce_sum(tf.square(current - tf.cast(original, current.dtype)))


def gram_matrix(features, normalize: bool = True) -> tf.Tensor:
    """(N, H, W, C) feature maps -> (N, C, C) Gram matrices `F^T F`, divided by H*W*C if `normalize`."""
    features = _f32(features)
    gram = tf.einsum("nhwc,nhwd->ncd", features, features)
    if normalize:
        shape = tf.shape(features)
        gram = gram / tf.cast(shape[1] * shape[2] * shape[3], gram.dtype)
    return gram


def style_loss(features: Sequence, target_grams: Sequence, style_weights: Sequence[float],
               normalize: bool = True) -> tf.Tensor:
    """`sum_l w_l * sum((G_l - A_l)^2)`: G_l the Gram matrix of `features[l]`, A_l `target_grams[l]`."""
    if not (len(features) == len(target_grams) == len(style_weights)):
        raise ValueError(f"style_loss: {len(features)} feature maps, {len(target_grams)} targets and "
                         f"{len(style_weights)} weights; one of each per layer is needed")
    terms = []
    for current, target, weight in zip(features, target_grams, style_weights, strict=True):
        gram = gram_matrix(current, normalize)
        terms.append(_scalar(weight, gram.dtype) * tf.reduce_sum(tf.square(gram - tf.cast(target, gram.dtype))))
    return tf.add_n(terms)


def tv_loss(images, tv_weight: float) -> tf.Tensor:
    """`tv_weight * (sum((x[i+1, j] - x[i, j])^2) + sum((x[i, j+1] - x[i, j])^2))` over (N, H, W, C)."""
    images = _f32(images)
    down = tf.reduce_sum(tf.square(images[:, 1:, :, :] - images[:, :-1, :, :]))
    right = tf.reduce_sum(tf.square(images[:, :, 1:, :] - images[:, :, :-1, :]))
    return _scalar(tv_weight, images.dtype) * (down + right)
