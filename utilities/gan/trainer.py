"""The two networks, their optimizers, the noise source and the compiled training step.

One `tf.function` does a whole GAN step with two gradient tapes over one forward pass (the
TensorFlow DCGAN tutorial's form): G makes a batch from fresh noise, D scores the real and the
fake batch, each tape gives its network the gradient of its own loss, and both Adam updates
are applied. Noise comes from a `tf.random.Generator` (seeded, and saved in the checkpoints,
so a resumed run draws the same noise as an uninterrupted one).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from models.gan import NUM_CLASSES, build_discriminator, build_generator
from utilities.gan.config import GanConfig
from utilities.gan.losses import discriminator_loss, generator_loss

GRID_COLUMNS = 10
GRID_ROWS = 10


class GanTrainer:
    """G, D, both optimizers, the noise generator and the fixed grid noise of one run."""

    def __init__(self, config: GanConfig, num_classes: int = NUM_CLASSES):
        self.config = config
        self.num_classes = num_classes
        classes = num_classes if config.conditional else None
        keras.utils.set_random_seed(config.seed)  # the networks' initial weights
        self.generator = build_generator(config.latent_dim, config.width, classes)
        self.discriminator = build_discriminator(config.width, classes)
        self.g_optimizer = keras.optimizers.Adam(config.lr_g, beta_1=config.beta1)
        self.d_optimizer = keras.optimizers.Adam(config.lr_d, beta_1=config.beta1)
        # Built now so that a checkpoint can restore their slots before the first step.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.noise = tf.random.Generator.from_seed(config.seed)
        # The grid shown every epoch: 10 x 10 samples from the same noise all run long. For the
        # cDCGAN row r is digit r and the noise is shared down each column (same "style").
        grid_rng = tf.random.Generator.from_seed(config.seed + 1)
        if config.conditional:
            grid_noise = tf.tile(grid_rng.normal([GRID_COLUMNS, config.latent_dim]), [GRID_ROWS, 1])
        else:
            grid_noise = grid_rng.normal([GRID_ROWS * GRID_COLUMNS, config.latent_dim])
        self.grid_noise = tf.Variable(grid_noise, trainable=False, name="grid_noise")
        self.grid_labels = tf.constant(np.repeat(np.arange(GRID_ROWS) % num_classes, GRID_COLUMNS), tf.int32)
        self.train_step = tf.function(self.step)

    def checkpoint_objects(self) -> dict:
        """What RunCheckpoint saves each epoch."""
        return dict(generator=self.generator, discriminator=self.discriminator, g_optimizer=self.g_optimizer,
                    d_optimizer=self.d_optimizer, noise=self.noise, grid_noise=self.grid_noise)

    def _g_inputs(self, z, labels):
        if self.config.conditional:
            return [z, tf.one_hot(labels, self.num_classes)]
        return z

    def _d_inputs(self, images, labels):
        if self.config.conditional:
            return [images, tf.one_hot(labels, self.num_classes)]
        return images

    def step(self, real: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        """One update of D and G (call `train_step`, its compiled form; this one runs eagerly)."""
        batch = tf.shape(real)[0]
        z = self.noise.normal([batch, self.config.latent_dim])
        fake_labels = self.noise.uniform([batch], 0, self.num_classes, dtype=tf.int32)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(self._g_inputs(z, fake_labels), training=True)
            real_logits = self.discriminator(self._d_inputs(real, labels), training=True)
            fake_logits = self.discriminator(self._d_inputs(fake, fake_labels), training=True)
            d_loss = discriminator_loss(real_logits, fake_logits)
            g_loss = generator_loss(fake_logits, self.config.g_loss)
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        d_grads = d_tape.gradient(d_loss, d_vars)
        g_grads = g_tape.gradient(g_loss, g_vars)
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss,
                "d_real": tf.reduce_mean(tf.sigmoid(real_logits)), "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}

    def generate(self, z, labels=None) -> tf.Tensor:
        """Samples in [-1, 1] (inference mode: batch norm uses its running statistics)."""
        return self.generator(self._g_inputs(tf.convert_to_tensor(z), labels), training=False)

    def progress_samples(self, indices) -> np.ndarray:
        """The fixed-grid samples at `indices` (a progress row), in [-1, 1]."""
        indices = tf.constant(indices, tf.int32)
        return self.generate(tf.gather(self.grid_noise, indices), tf.gather(self.grid_labels, indices)).numpy()

    def grid_samples(self) -> np.ndarray:
        """The 100 fixed-noise samples, (100, 32, 32, 1) in [-1, 1], rows of 10."""
        return self.generate(self.grid_noise, self.grid_labels).numpy()
