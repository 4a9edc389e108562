"""Convolutional autoencoder with a 2-D code on Fashion-MNIST (CS 4/510 PA4, exercise 1), and its map vs PCA.

`utilities.autoencoder.experiment.run_autoencoder(AutoencoderConfig(...))` trains one plain or
denoising autoencoder and writes its outputs (`autoencoder.py` is its command line). The
network is `models.autoencoder`; the noisy inputs are made in `data.py`, training (Keras
`fit` with TensorBoard and progress callbacks) is `training.py` and `callbacks.py`, the
CAE-vs-PCA numbers are `comparison.py`, the pictures `figures.py`. This package's top level
imports no TensorFlow, so `autoencoder.py --help` stays fast.
"""
from utilities.autoencoder.config import AE_DATASETS, DEFAULT_EPOCHS, AutoencoderConfig, UsageError

__all__ = ["AE_DATASETS", "DEFAULT_EPOCHS", "AutoencoderConfig", "UsageError"]
