"""DCGAN and conditional DCGAN on 28x28 digits (RDFIA practical 3-d), with a judge for sample quality.

`utilities.gan.experiment.run_gan(GanConfig(...))` trains or resumes one run (`gan.py` is its
command line); the losses are in `losses.py`, the compiled two-tape step in `trainer.py`, the
quality numbers (a cached digit classifier's accuracy on requested digits, and the entropy of
its class histogram) in `judge.py` and `quality.py`, the progress figure (the handout's Fig. 10)
in `progress.py`, and `compare.py` runs the learning-rate comparison (`--compare-lr`, Figs.
13-16). This package's top level imports no
TensorFlow, so `gan.py --help` stays fast.
"""
from utilities.gan.config import DEFAULT_EPOCHS, GAN_DATASETS, MODELS, GanConfig, UsageError

__all__ = ["DEFAULT_EPOCHS", "GAN_DATASETS", "MODELS", "GanConfig", "UsageError"]
