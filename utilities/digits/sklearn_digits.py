"""scikit-learn's bundled handwritten digits, laid out like MNIST.

The 1,797 UCI digits are 8x8 with 17 grey levels (0-16). MNIST digits are size-normalised
into a 20x20 box centred in a 28x28 frame, so each digit is resized to 20x20 (bicubic,
clipped) and padded by 4 pixels: real handwriting that ships with a package, usable offline
wherever MNIST would be. The train/test split is stratified and seeded.
"""
from __future__ import annotations

import cv2
import numpy as np

from utilities.digits.image_set import ImageSet

DIGIT_NAMES = tuple(str(d) for d in range(10))


def upsample_digits(images8: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """(N, 8, 8) grey levels 0-16 -> float32 (N, size, size, 1) in [0, 1], digit in a centred box."""
    pad = (size - box) // 2
    out = np.zeros((len(images8), size, size, 1), np.float32)
    for i, image in enumerate(np.asarray(images8, np.float32) / 16.0):
        big = cv2.resize(image, (box, box), interpolation=cv2.INTER_CUBIC)
        out[i, pad:pad + box, pad:pad + box, 0] = np.clip(big, 0.0, 1.0)
    return out


def load_sklearn_digits(*, test_fraction: float = 0.25, seed: int = 0) -> ImageSet:
    """The bundled digits as 28x28 images, split stratified by class (seeded)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = upsample_digits(digits.images)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    return ImageSet("digits", x_train, y_train, x_test, y_test, DIGIT_NAMES)
