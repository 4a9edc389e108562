"""Small 28x28 grayscale image sets for the sibling exercises (autoencoder, DANN, GAN).

`load_image_set(name)` returns an `ImageSet` with images as float32 in [0, 1], shape
(N, 28, 28, 1): MNIST and Fashion-MNIST from the files Keras uses (downloaded once, atomically,
into Keras' cache), or scikit-learn's bundled digits upsampled to MNIST's layout (offline).
"""
from utilities.digits.image_set import DATASETS, DatasetUnavailable, ImageSet
from utilities.digits.loader import load_image_set

__all__ = ["DATASETS", "DatasetUnavailable", "ImageSet", "load_image_set"]
