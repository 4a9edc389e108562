"""SmoothGrad (Smilkov 2017), SmoothGrad-squared and VarGrad (Adebayo 2018).

Vanilla gradients are noisy because a ReLU network's gradient jumps between nearby inputs.
SmoothGrad averages the gradient over `samples` copies of the image with Gaussian noise of
standard deviation `noise_level * (max(x) - min(x))` (the paper's 10-20 %); SmoothGrad-squared
averages the squared gradients, VarGrad takes their variance. The classes are ranked on the
clean image, so "top-3" means the same classes as for every other method.

Cost: `samples` backward passes per (image, class). The noisy copies of a chunk of images go
through the model together, at most `pass_batch` model inputs per pass (memory bound), in a
traced `tf.while_loop`; noise is stateless-seeded and the same for every image, so a map
is reproducible and independent of batching.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from utilities.explain._passes import passes_for
from utilities.explain.base import Preprocess, Saliency, resolve_classes


class SmoothGrad(Saliency):
    """Mean of the input gradients over noisy copies of the image.

    Args:
        samples: noisy copies per image (the paper: 50; 0 noise_level gives vanilla gradients).
        noise_level: noise std as a fraction of each image's value range.
        pass_batch: most model inputs (images x noisy copies) per forward/backward pass.
        seed: noise seed (stateless: the same noise on every call).
    """

    name = "smoothgrad"
    title = "SmoothGrad"
    aggregate = "mean"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None,
                 batch_size: int = 8, reduction: str = "max", samples: int = 25,
                 noise_level: float = 0.15, pass_batch: int = 32, seed: int = 0):
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if noise_level < 0:
            raise ValueError(f"noise_level must be >= 0, got {noise_level}")
        if pass_batch < 1:
            raise ValueError(f"pass_batch must be >= 1, got {pass_batch}")
        self.samples, self.noise_level, self.seed = samples, noise_level, seed
        self.pass_batch = pass_batch
        super().__init__(model, preprocess, batch_size, reduction)

    def noise(self, image_shape) -> tf.Tensor:
        """The standard-normal noise (samples, H, W, C), shared by every image.

        Drawn once per call from a stateless seed, so a map does not depend on which other
        images were in the batch or on `pass_batch`.
        """
        shape = tf.concat([[self.samples], image_shape], axis=0)
        return tf.random.stateless_normal(shape, seed=[self.seed, 0])

    def attribute(self, x, classes):
        logits = self.logits(x)
        classes = resolve_classes(tf.cast(logits, tf.float32), classes)
        n, k = tf.shape(x)[0], tf.shape(classes)[1]
        image_shape = tf.shape(x)[1:]
        per_pass, count = passes_for(self.samples, self.pass_batch, self.batch_size)
        padding = per_pass * count - self.samples
        noise = tf.pad(self.noise(image_shape), [[0, padding], [0, 0], [0, 0], [0, 0]])
        axes = [1, 2, 3]
        span = tf.reduce_max(x, axis=axes, keepdims=True) - tf.reduce_min(x, axis=axes, keepdims=True)
        sigma = self.noise_level * span                                   # (N, 1, 1, 1)
        total = tf.zeros(tf.concat([[n, k], image_shape], axis=0), tf.float32)
        total_sq = total
        for i in tf.range(count):
            chunk = noise[i * per_pass:(i + 1) * per_pass]                 # (P, H, W, C)
            noisy = tf.reshape(x[None] + chunk[:, None] * sigma[None], tf.concat([[-1], image_shape], 0))
            _, _, grads = self.input_gradients(noisy, tf.tile(classes, [per_pass, 1]))
            grads = tf.reshape(grads, tf.concat([[per_pass, n, k], image_shape], axis=0))
            used = tf.range(per_pass) + i * per_pass < self.samples  # the last pass may be partial
            grads = tf.where(tf.reshape(used, [-1, 1, 1, 1, 1, 1]), grads, 0.0)
            total += tf.reshape(tf.reduce_sum(grads, axis=0), tf.shape(total))  # static loop shapes
            total_sq += tf.reshape(tf.reduce_sum(tf.square(grads), axis=0), tf.shape(total))
        mean, mean_sq = total / self.samples, total_sq / self.samples
        return logits, classes, self.combine(mean, mean_sq)

    def combine(self, mean: tf.Tensor, mean_sq: tf.Tensor) -> tf.Tensor:
        return mean


class SmoothGradSquared(SmoothGrad):
    """Mean of the squared gradients (Hooker et al. 2019's SG-SQ)."""

    name = "smoothgrad_sq"
    title = "SmoothGrad-squared"

    def combine(self, mean, mean_sq):
        return mean_sq


class VarGrad(SmoothGrad):
    """Variance of the gradients over the noisy copies (Adebayo et al. 2018)."""

    name = "vargrad"
    title = "VarGrad"

    def combine(self, mean, mean_sq):
        return tf.nn.relu(mean_sq - tf.square(mean))
