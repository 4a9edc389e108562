"""Dimensionality reduction between the features and the classifier (004's "going further").

`--reduce` takes one or more of:

- `none`: the features as they are (the handout);
- `pca:N`: the first N principal components of the *training* features (centred, not scaled);
- `pca-whiten:N`: the same, each component divided by its standard deviation, so every kept
  direction has unit variance (Jégou & Chum 2012: whitening gives the weak directions the same say as
  the strong ones; with N close to the number of training images it also blows their noise up);
- `random:N`: a Gaussian random projection to N dimensions (seeded; Johnson-Lindenstrauss: it
  keeps distances roughly without looking at the data, so it needs more dimensions than PCA for the
  same accuracy, but costs no fit).

The reduction is fitted on the training features only (`fit`), then applied to the test features;
inside cross-validation it is refitted on each fold's training part (`classifiers.cross_validate`). The reduced rows
are L2-normalised again, so the classifier sees unit vectors as without reduction and C keeps its
meaning.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

import numpy as np

KINDS = ("pca", "pca-whiten", "random")
_SPEC = re.compile(r"^(pca|pca-whiten|random):(\d+)$")


@dataclass(frozen=True)
class Reduction:
    """One `--reduce` value: a kind ("none" or one of KINDS) and a target dimension."""

    kind: str = "none"
    dim: int | None = None

    @property
    def spec(self) -> str:
        """As written on the command line: `none`, `pca:64`."""
        return "none" if self.kind == "none" else f"{self.kind}:{self.dim}"

    @property
    def label(self) -> str:
        """For file names and table keys: `none`, `pca64`, `pca-whiten64`, `random64`."""
        return "none" if self.kind == "none" else f"{self.kind}{self.dim}"

    def estimator(self, seed: int = 0):
        """An unfitted scikit-learn transformer (None for `none`)."""
        from sklearn.decomposition import PCA
        from sklearn.random_projection import GaussianRandomProjection

        if self.kind == "none":
            return None
        if self.kind == "random":
            return GaussianRandomProjection(n_components=self.dim, random_state=seed)
        return PCA(n_components=self.dim, whiten=self.kind == "pca-whiten", random_state=seed)


NONE = Reduction()


def parse_reduction(text: str) -> Reduction:
    """`none`, `pca:N`, `pca-whiten:N` or `random:N` (N >= 1); argparse.ArgumentTypeError otherwise."""
    text = text.strip()
    if text == "none":
        return NONE
    match = _SPEC.match(text)
    if not match or int(match.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use none, pca:N, pca-whiten:N or random:N with N >= 1")
    return Reduction(match.group(1), int(match.group(2)))


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1)).astype(np.float32)


def fit(reduction: Reduction, train: np.ndarray, test: np.ndarray, seed: int = 0
        ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) reduced with a transformer fitted on `train` alone, rows L2-normalised again."""
    if reduction.kind == "none":
        return train, test
    transformer = reduction.estimator(seed).fit(train)
    return _normalise(transformer.transform(train)), _normalise(transformer.transform(test))


def problem(reduction: Reduction, *, samples: int, dim: int | None = None) -> str | None:
    """Why `reduction` cannot run on `samples` training rows of `dim` values (None when it can)."""
    if reduction.kind == "none":
        return None
    if dim is not None and reduction.dim > dim:
        return f"--reduce {reduction.spec}: the features have only {dim} values; give N <= {dim}"
    if reduction.kind != "random" and reduction.dim > samples:
        return (f"--reduce {reduction.spec}: PCA fitted on {samples} training rows has at most {samples} "
                f"components; give N <= {samples}")
    return None
