"""The space an ascent runs in: the handouts' normalised image, or the pixels as given.

The CS231n-family handouts (CS7643 A3, RDFIA 3-b) optimise the *normalised* image
z = (x - mean) / std (x RGB in [0, 1], ImageNet mean and std per channel): their learning
rates (class visualisation 25, fooling 1), the L2 weight (1e-3 on ||z||^2) and the N(0, 1)
starting noise are all in std units. `NormalisedSpace` lets the same numbers be used with a
model that takes anything else (here: caffe-preprocessed pixels): the ascent updates z, the
model sees `preprocess(mean + std * z)`, the clip range is the valid x range mapped into z,
and the results are handed back in x. Because the map is linear per channel, a blur or a
roll (jitter) of z is the same blur or roll of x.

Why it matters: on caffe pixels (0..255, mean subtracted) a std unit is ~58 pixel levels, so
the handouts' step and L2 weight used on those pixels unchanged are off by 58 and 58^2;
the L2 term then dominates and the ascent finds nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

IMAGENET_MEAN = (0.485, 0.456, 0.406)   # the handouts' SQUEEZENET_MEAN (RGB, [0, 1])
IMAGENET_STD = (0.229, 0.224, 0.225)    # SQUEEZENET_STD


@dataclass(frozen=True)
class NormalisedSpace:
    """z = (x - mean) / std per channel (last axis)."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self):
        if len(self.mean) != len(self.std) or min(self.std) <= 0:
            raise ValueError(f"need one positive std per mean, got mean {self.mean}, std {self.std}")

    def to_z(self, x) -> np.ndarray:
        return ((np.asarray(x, np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def to_x(self, z) -> np.ndarray:
        return (np.asarray(z, np.float32) * np.float32(self.std) + np.float32(self.mean)).astype(np.float32)

    def preprocess(self, preprocess: Callable | None) -> Callable:
        """z -> model input: `preprocess(mean + std * z)` (just mean + std * z when None)."""
        mean, std = tf.constant(self.mean, tf.float32), tf.constant(self.std, tf.float32)
        if preprocess is None:
            return lambda z: z * std + mean
        return lambda z: preprocess(z * std + mean)

    def value_range(self, value_range: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The x range (low, high) as per-channel bounds on z (None stays None)."""
        if value_range is None:
            return None
        low, high = value_range
        return self.to_z(np.full(len(self.mean), low)), self.to_z(np.full(len(self.mean), high))


IMAGENET = NormalisedSpace()
