"""Numbers for sample quality beyond the eye, from the judge classifier.

- conditional accuracy (cDCGAN): the fraction of samples generated for digit d that the judge
  calls d, for each d and on average. Chance is 10 %; the judge's own accuracy on real test
  digits is the ceiling to compare with.
- class entropy: the entropy (bits) of the histogram of the judge's classes over samples.
  log2(10) = 3.32 bits when all ten digits are equally frequent, 0 when every sample is the
  same digit (mode collapse). For the DCGAN the samples come from plain noise; for the cDCGAN
  the requested labels are spread evenly, so it measures whether the labels are obeyed too.
The noise (and labels) are drawn once per run from a fixed seed, so the numbers of successive
epochs differ only because the generator did.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Quality:
    """The judge's verdict on one batch of samples."""

    histogram: np.ndarray                      # fraction of samples per predicted class
    entropy_bits: float
    class_accuracy: np.ndarray | None = None   # cDCGAN: per requested class
    accuracy: float | None = None              # cDCGAN: mean over the requested samples
    extra: dict = field(default_factory=dict)

    def summary(self) -> str:
        text = f"class entropy {self.entropy_bits:.2f} bits"
        if self.accuracy is not None:
            per = " ".join(f"{100 * a:.0f}" for a in self.class_accuracy)
            text = f"conditional accuracy {100 * self.accuracy:.1f}% (per digit {per}), " + text
        return text


def entropy_bits(histogram: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram (0 log 0 = 0)."""
    p = np.asarray(histogram, np.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def score_predictions(predicted: np.ndarray, requested: np.ndarray | None, num_classes: int) -> Quality:
    """Quality from the judge's classes of the samples (and the classes asked for, cDCGAN)."""
    histogram = np.bincount(predicted, minlength=num_classes) / len(predicted)
    if requested is None:
        return Quality(histogram, entropy_bits(histogram))
    per_class = np.array([np.mean(predicted[requested == c] == c) if np.any(requested == c) else np.nan
                          for c in range(num_classes)])
    return Quality(histogram, entropy_bits(histogram), per_class, float(np.mean(predicted == requested)))


class QualityMeter:
    """Scores a generator on fixed noise with the judge; one compiled generate-and-classify call per chunk."""

    def __init__(self, judge: keras.Model, latent_dim: int, conditional: bool, samples: int, seed: int,
                 num_classes: int = 10, chunk: int = 500):
        rng = np.random.default_rng([seed, 7])
        self.z = rng.standard_normal((samples, latent_dim)).astype(np.float32)
        self.labels = (np.arange(samples) % num_classes).astype(np.int32) if conditional else None
        self.judge, self.num_classes, self.chunk = judge, num_classes, chunk
        self._classify = None

    def _compiled(self, generator: keras.Model):
        judge, num_classes, conditional = self.judge, self.num_classes, self.labels is not None

        @tf.function
        def classify(z, labels):
            inputs = [z, tf.one_hot(labels, num_classes)] if conditional else z
            return tf.argmax(judge(generator(inputs, training=False), training=False), axis=1)
        return classify

    def measure(self, generator: keras.Model) -> Quality:
        if self._classify is None or self._classify[0] is not generator:
            self._classify = (generator, self._compiled(generator))
        classify = self._classify[1]
        labels = self.labels if self.labels is not None else np.zeros(len(self.z), np.int32)
        predicted = np.concatenate([classify(self.z[i:i + self.chunk], labels[i:i + self.chunk]).numpy()
                                    for i in range(0, len(self.z), self.chunk)])
        return score_predictions(predicted.astype(np.int64), self.labels, self.num_classes)
