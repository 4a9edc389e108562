"""GAN losses on discriminator logits (D(x) = sigmoid(logit)).

discriminator   -[log D(x) + log(1 - D(G(z)))]             = BCE(real, 1) + BCE(fake, 0)
generator, non-saturating (the handout's, Goodfellow et al. 2014, section 3)
                -log D(G(z))                                = softplus(-logit)
generator, minimax (the original game, for comparison)
                 log(1 - D(G(z)))                           = -softplus(logit)
The minimax form has almost no gradient when D rejects the samples (early in training), which
is why the non-saturating one is used. Every form goes through softplus, never log(sigmoid),
so a confident discriminator gives large finite losses instead of log(0).
"""
from __future__ import annotations

import tensorflow as tf

G_LOSSES = ("non-saturating", "minimax")


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy of real samples labelled 1 plus fake samples labelled 0."""
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def non_saturating_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """-mean log D(G(z)): the generator maximises the probability that D calls its samples real."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def minimax_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """mean log(1 - D(G(z))): the generator minimises the discriminator's objective directly."""
    return -tf.reduce_mean(tf.nn.softplus(fake_logits))


def generator_loss(fake_logits: tf.Tensor, kind: str = "non-saturating") -> tf.Tensor:
    """The generator loss `kind` (one of G_LOSSES)."""
    if kind == "non-saturating":
        return non_saturating_generator_loss(fake_logits)
    if kind == "minimax":
        return minimax_generator_loss(fake_logits)
    raise ValueError(f"unknown generator loss {kind!r}; choose one of {', '.join(G_LOSSES)}")
