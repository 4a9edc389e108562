"""Images for the autoencoder and their noisy copies (the denoising CAE's inputs).

The handout's denoiser sees `x + N(0, std^2)` noise and learns to return the clean `x`. With
std 1.0 on images in [0, 1] the noise dominates; `clip` keeps the noisy input in [0, 1] (as
the Keras blog's denoiser does), without it the input is the handout's plain sum. Training
batches get fresh noise every epoch (seeded, so a run repeats); the test set's noisy copy is
drawn once, so every epoch's test loss measures the same inputs.
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
    to put the files when it has none.
    """
    try:
        return load_image_set(dataset, **({"data_dir": data_dir} if data_dir is not None else {}))
    except DatasetUnavailable as exc:
        hint = "" if dataset == "digits" else " (offline? --dataset digits uses the digits bundled with scikit-learn)"
        raise UsageError(f"{exc}{hint}") from None


def add_noise(images: np.ndarray, std: float, clip: bool, seed: int) -> np.ndarray:
    """`images` + N(0, std^2) noise drawn from `seed` (float32), clipped to [0, 1] if `clip`."""
    noise = np.random.default_rng(seed).standard_normal(images.shape, dtype=np.float32)
    noisy = np.asarray(images, np.float32) + np.float32(std) * noise
    return np.clip(noisy, 0.0, 1.0) if clip else noisy


def training_pairs(images: np.ndarray, batch_size: int, seed: int, noise_std: float = 0.0,
                   clip: bool = False) -> tf.data.Dataset:
    """Batches of (input, clean target): shuffled every epoch, inputs noisy when `noise_std` > 0.

    Both the order and the noise come from `seed` and change from one pass to the next
    (reshuffle / rerandomize each iteration), so every epoch sees new noise and a rerun the same.
    """
    batches = (tf.data.Dataset.from_tensor_slices(np.asarray(images, np.float32))
               .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size))
    if not noise_std:
        return batches.map(lambda x: (x, x)).prefetch(tf.data.AUTOTUNE)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def noisy_pair(x, pair_seed):
        noisy = x + noise_std * tf.random.stateless_normal(tf.shape(x), seed=pair_seed, dtype=x.dtype)
        return (tf.clip_by_value(noisy, 0.0, 1.0) if clip else noisy), x

    return tf.data.Dataset.zip(batches, seeds).map(noisy_pair).prefetch(tf.data.AUTOTUNE)


def evaluation_subset(count: int, labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices of `count` test images (all if there are fewer), seeded, in increasing order."""
    if count >= len(labels):
        return np.arange(len(labels))
    return np.sort(np.random.default_rng(seed).choice(len(labels), count, replace=False))


def one_per_class(labels: np.ndarray, per_class: int = 1) -> np.ndarray:
    """Indices of the first `per_class` images of each class, class by class (the example grids)."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])
