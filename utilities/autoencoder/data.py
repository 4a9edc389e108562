"""Images for the autoencoder and their noisy copies (the denoising CAE's inputs).

The handout's denoiser sees `x + N(0, std^2)` noise and learns to return the clean `x`. With
std 1.0 on images in [0, 1] the noise dominates; `clip` keeps the noisy input in [0, 1] (as
the Keras blog's denoiser does), without it the input is the handout's plain sum. Training
batches get fresh noise every epoch (seeded by the epoch's number, so a run repeats and a resumed
run continues exactly); the test set's noisy copy is drawn once, so every epoch's test loss
measures the same inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from utilities.autoencoder.config import UsageError
from utilities.digits import DatasetUnavailable, ImageSet, load_image_set


def load_images(dataset: str, data_dir: Path | None = None) -> ImageSet:
    """The image set (from `data_dir` if given), or UsageError with the one-line reason (a missing or bad file).

    The loaders say on stderr where the images came from (utilities.digits); Fashion-MNIST's says where
    to put the files when it has none. Every file is checked when read (labels 0..9 included).
    """
    try:
        return load_image_set(dataset, **({"data_dir": data_dir} if data_dir is not None else {}))
    except DatasetUnavailable as exc:
        reachable = not any(word in str(exc) for word in ("could not download", "could not be reached", "cut off"))
        hint = ("" if dataset == "digits" or reachable  # a bad file: the hint would only mislead
                else " (offline? --dataset digits uses the digits bundled with scikit-learn)")
        raise UsageError(f"{exc}{hint}") from None


def add_noise(images: np.ndarray, std: float, clip: bool, seed: int) -> np.ndarray:
    """`images` + N(0, std^2) noise drawn from `seed` (float32), clipped to [0, 1] if `clip`."""
    noise = np.random.default_rng(seed).standard_normal(images.shape, dtype=np.float32)
    noisy = np.asarray(images, np.float32) + np.float32(std) * noise
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


def training_pairs(images: np.ndarray, batch_size: int, seed: int, noise_std: float = 0.0, clip: bool = False,
                   first_epoch: int = 0, epochs: int | None = None) -> tf.data.Dataset:
    """Batches of (input, clean target) for epochs `first_epoch`, `first_epoch` + 1, ... one after another.

    Epoch e is a function of (`seed`, e) alone: its order is a stateless shuffle and its noise
    (inputs noisy when `noise_std` > 0) stateless normals, both keyed on (seed, e, batch). So
    every epoch sees a new order and new noise, a rerun the same, and a run resumed after epoch
    k (`first_epoch=k`) exactly the batches the uninterrupted run would have seen. `epochs`
    epochs (None: without end): give Keras `fit` `steps_per_epoch` (`steps_per_epoch(...)`),
    it then draws each epoch's batches from the one stream.
    """
    x = tf.constant(np.asarray(images, np.float32))
    n = len(images)
    base = tf.constant([seed, 0], tf.int64)

    def one_epoch(epoch):
        key = tf.random.experimental.stateless_fold_in(base, epoch)
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                         seed=tf.random.experimental.stateless_fold_in(key, 0))
        return (tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
                .map(lambda step, pick: (key, step, pick)))

    def pair(key, step, pick):
        clean = tf.gather(x, pick)
        if not noise_std:
            return clean, clean
        noise_key = tf.random.experimental.stateless_fold_in(tf.random.experimental.stateless_fold_in(key, 1), step)
        noisy = clean + noise_std * tf.random.stateless_normal(tf.shape(clean), seed=noise_key, dtype=clean.dtype)
        return (tf.clip_by_value(noisy, 0.0, 1.0) if clip else noisy), clean

    last = np.iinfo(np.int64).max if epochs is None else first_epoch + epochs
    # a plain map: on 2 shared cores a parallel one cost more than it gave; prefetch overlaps it with training
    return tf.data.Dataset.range(first_epoch, last).flat_map(one_epoch).map(pair).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Batches in one epoch of `count` images (the last one may be smaller)."""
    return -(-count // batch_size)


def evaluation_subset(count: int, labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices of `count` test images (all if there are fewer), seeded, in increasing order."""
    if count >= len(labels):
        return np.arange(len(labels))
    return np.sort(np.random.default_rng(seed).choice(len(labels), count, replace=False))


def one_per_class(labels: np.ndarray, per_class: int = 1) -> np.ndarray:
    """Indices of the first `per_class` images of each class, class by class (the example grids)."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])
