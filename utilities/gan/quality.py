"""Numbers for sample quality beyond the eye, from the judge classifier.

- conditional accuracy (cDCGAN): the fraction of samples generated for digit d that the judge
  calls d, for each d and on average. Chance is 10 %; the judge's own accuracy on real test
  digits is the ceiling to compare with.
- class entropy: the entropy (bits) of the histogram of the judge's classes over samples.
  log2(10) = 3.32 bits when all ten digits are equally frequent, 0 when every sample is the
  same digit (mode collapse). For the DCGAN the samples come from plain noise; for the cDCGAN
  the requested labels are spread evenly, so it measures whether the labels are obeyed too.
- within-class diversity: the mean pixel distance between two samples of the same digit
  (requested digit for the cDCGAN, the judge's class for the DCGAN), divided by the same
  mean over real training digits. About 1: as varied as real handwriting; near 0: every
  sample of a digit is the same image (the collapse inside a class that entropy cannot see).
The noise (and labels) are drawn once per run from a fixed seed, so the numbers of successive
epochs differ only because the generator did.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

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
    diversity: float = float("nan")            # within-class spread / that of real digits

    def summary(self) -> str:
        text = f"class entropy {self.entropy_bits:.2f} bits, diversity {self.diversity:.2f}"
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


def within_class_spread(images: np.ndarray, groups: np.ndarray, num_classes: int, per_class: int = 100) -> float:
    """Mean over groups (of 2+ images) of the mean L2 distance between two different images of the group."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    means = []
    for c in range(num_classes):
        members = flat[groups == c][:per_class]
        if len(members) < 2:
            continue
        squared = (members ** 2).sum(1)
        d2 = np.maximum(squared[:, None] + squared[None, :] - 2 * members @ members.T, 0.0)
        means.append(np.sqrt(d2)[np.triu_indices(len(members), 1)].mean())
    return float(np.mean(means)) if means else 0.0


class QualityMeter:
    """Scores a generator on fixed noise with the judge; one compiled generate-and-classify call per chunk."""

    def __init__(self, judge: keras.Model, latent_dim: int, conditional: bool, samples: int, seed: int,
                 real_images: np.ndarray, real_labels: np.ndarray, num_classes: int = 10, chunk: int = 500):
        self.real_spread = within_class_spread(real_images, real_labels, num_classes)
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
            images = generator(inputs, training=False)
            return images, tf.argmax(judge(images, training=False), axis=1)
        return classify

    def measure(self, generator: keras.Model) -> Quality:
        if self._classify is None or self._classify[0] is not generator:
            self._classify = (generator, self._compiled(generator))
        classify = self._classify[1]
        labels = self.labels if self.labels is not None else np.zeros(len(self.z), np.int32)
        chunks = [classify(self.z[i:i + self.chunk], labels[i:i + self.chunk])
                  for i in range(0, len(self.z), self.chunk)]
        images = np.concatenate([c[0].numpy() for c in chunks])
        predicted = np.concatenate([c[1].numpy() for c in chunks]).astype(np.int64)
        quality = score_predictions(predicted, self.labels, self.num_classes)
        groups = self.labels if self.labels is not None else predicted
        spread = within_class_spread(images, groups, self.num_classes)
        return replace(quality, diversity=spread / self.real_spread if self.real_spread else float("nan"))
