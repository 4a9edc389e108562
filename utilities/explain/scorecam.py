"""Score-CAM (Wang et al. 2020): channel weights from the class score of masked inputs.

A `CAM` subclass: the base runs the model once, exposing the layer's maps A (also in
nested models), and combines ReLU(sum_k w_k A^k); only the channel weights w differ.
Score-CAM needs no gradient: each channel, upsampled and min-max scaled to [0, 1], masks the
input, and its weight is the softmax probability of the class on that masked input (the
official implementation; the paper's "increase of confidence" up to a constant baseline term).
Channels that are constant over the image give no mask and weight 0. That is one forward
pass per channel (512 for VGG16's block5_conv3): masked inputs go through the model in
chunks of at most `pass_batch` inputs inside a traced `tf.while_loop`; `max_channels` keeps
only the most varying channels (Faster Score-CAM). Masking multiplies the images you pass
(before `preprocess`): black for RGB [0, 1] input. Since every weight is positive, the map
leans towards the plain sum of activations; the randomisation check shows it (its maps
survive randomising the classifier far better than Grad-CAM's).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from utilities.explain._passes import passes_for
from utilities.explain.base import CAM, Preprocess


def channel_masks(activations: tf.Tensor, size) -> tuple[tf.Tensor, tf.Tensor]:
    """Upsampled, min-max scaled channel maps (N,H,W,c) in [0, 1], and which channels vary (N,c)."""
    upsampled = tf.image.resize(activations, size, method="bilinear")
    low = tf.reduce_min(upsampled, axis=(1, 2), keepdims=True)
    span = tf.reduce_max(upsampled, axis=(1, 2), keepdims=True) - low
    varies = span > 0
    masks = tf.where(varies, (upsampled - low) / tf.where(varies, span, 1.0), 0.0)
    return masks, varies[:, 0, 0, :]


class ScoreCAM(CAM):
    """w_k = softmax(f(x * mask_k))[class]; cam = ReLU(sum_k w_k A^k).

    Args:
        pass_batch: most masked inputs per forward pass (memory bound).
        max_channels: None (the paper: every channel) or only the channels with the largest
            spatial variance, the others weighted 0 (Faster Score-CAM; tf-keras-vis's max_N):
            cost drops from c to max_channels forward passes per image.
    """

    name = "scorecam"
    title = "Score-CAM"
    needs_gradients = False

    def __init__(self, model: keras.Model, layer: str | None = None,
                 preprocess: Preprocess | None = None, batch_size: int = 8, pass_batch: int = 32,
                 max_channels: int | None = None):
        if pass_batch < 1:
            raise ValueError(f"pass_batch must be >= 1, got {pass_batch}")
        if max_channels is not None and max_channels < 1:
            raise ValueError(f"max_channels must be >= 1 or None, got {max_channels}")
        self.pass_batch, self.max_channels = pass_batch, max_channels
        super().__init__(model, layer, preprocess, batch_size)

    def masked_scores(self, x: tf.Tensor, activations: tf.Tensor, classes: tf.Tensor):
        """softmax(f(x * mask_k))[classes] (N, K, c) for every channel k, and which vary (N, c).

        Channels are upsampled and scaled a chunk at a time, so memory stays bounded by
        `pass_batch` full-size masks whatever the number of channels.
        """
        channels = activations.shape[-1]
        per_pass, count = passes_for(channels, self.pass_batch, self.batch_size)
        activations = tf.pad(activations, [[0, 0], [0, 0], [0, 0], [0, per_pass * count - channels]])
        n, k = tf.shape(x)[0], tf.shape(classes)[1]
        image_shape = tf.shape(x)[1:]
        found = tf.TensorArray(tf.float32, size=count)
        flags = tf.TensorArray(tf.bool, size=count)
        for i in tf.range(count):
            masks, varies = channel_masks(activations[..., i * per_pass:(i + 1) * per_pass], image_shape[:2])
            masked = x[:, None] * tf.transpose(masks, [0, 3, 1, 2])[..., None]    # (N, B, H, W, C)
            logits = self.logits(tf.reshape(masked, tf.concat([[-1], image_shape], 0)))
            probs = tf.reshape(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), [n, per_pass, -1])
            wanted = tf.tile(classes[:, None, :], [1, per_pass, 1])               # (N, B, K)
            found = found.write(i, tf.gather(probs, wanted, batch_dims=2))
            flags = flags.write(i, varies)
        scores = tf.reshape(tf.transpose(found.stack(), [1, 3, 0, 2]), [n, k, -1])   # (N, K, count*B)
        varies = tf.reshape(tf.transpose(flags.stack(), [1, 0, 2]), [n, -1])         # (N, count*B)
        return scores[..., :channels], varies[:, :channels]

    def channel_weights(self, x, activations, gradients, classes):
        channels = activations.shape[-1]
        if self.max_channels is None or self.max_channels >= channels:
            scores, varies = self.masked_scores(x, activations, classes)
            return tf.where(varies[:, None, :], scores, 0.0)
        _, variances = tf.nn.moments(activations, axes=[1, 2])               # (N, c)
        chosen = tf.math.top_k(variances, k=self.max_channels).indices        # (N, m)
        scores, varies = self.masked_scores(x, tf.gather(activations, chosen, axis=3, batch_dims=1), classes)
        weights = tf.where(varies[:, None, :], scores, 0.0)
        return tf.einsum("nkm,nmc->nkc", weights, tf.one_hot(chosen, channels))
