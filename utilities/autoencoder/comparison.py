"""How the autoencoder's code compares with PCA of the same size: reconstruction and class separation.

For each kind of input (the clean test images; for a denoiser also their noisy copies) and each
method (the CAE; scikit-learn's PCA with as many components, fitted on the clean training
images, or with --pca-fit test on the clean evaluation images themselves, as the handout's
`PCA(2).fit_transform(test points)`), four numbers on the evaluation images:

    bce           binary cross-entropy of the reconstruction against the clean image (the CAE's
                  training loss; PCA's inverse transform is clipped to [0, 1] first, which only helps it)
    mse           mean squared error of the same reconstruction
    knn_accuracy  a 5-nearest-neighbour classifier fitted on the codes of (up to 10,000) clean
                  training images, scored on the codes of the evaluation images: how well the map
                  keeps the classes apart
    silhouette    scikit-learn's silhouette score of the evaluation codes with their true classes
                  (-1 to 1; higher: classes form tighter, better separated clusters)
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.neighbors import KNeighborsClassifier

from utilities.common.atomic import write_text_atomic

EPSILON = 1e-7  # Keras clips probabilities the same way inside its binary cross-entropy
KNN_NEIGHBOURS = 5
KNN_TRAIN_IMAGES = 10_000


@dataclass(frozen=True)
class Scores:
    """One row of the comparison table."""

    method: str
    latent_dim: int
    inputs: str
    bce: float
    mse: float
    knn_accuracy: float
    silhouette: float
    fitted_on: str = "train"  # the images the method was fitted on: "train", or "test" (PCA, --pca-fit test)


@dataclass(frozen=True)
class MapResult:
    """The codes and reconstructions of one method on one kind of input, with its scores."""

    scores: Scores
    codes: np.ndarray
    reconstructions: np.ndarray


def binary_cross_entropy(targets: np.ndarray, outputs: np.ndarray) -> float:
    """Mean per-pixel BCE of `outputs` (clipped to [eps, 1 - eps]) against `targets` in [0, 1]."""
    p = np.clip(np.asarray(outputs, np.float64), EPSILON, 1.0 - EPSILON)
    t = np.asarray(targets, np.float64)
    return float(np.mean(-(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))))


def mean_squared_error(targets: np.ndarray, outputs: np.ndarray) -> float:
    return float(np.mean((np.asarray(targets, np.float64) - np.asarray(outputs, np.float64)) ** 2))


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1)


def _score(method: str, inputs: str, codes: np.ndarray, reconstructions: np.ndarray, targets: np.ndarray,
           labels: np.ndarray, knn: KNeighborsClassifier, fitted_on: str = "train") -> MapResult:
    scores = Scores(method, codes.shape[1], inputs, binary_cross_entropy(targets, reconstructions),
                    mean_squared_error(targets, reconstructions), float(knn.score(codes, labels)),
                    float(silhouette_score(codes, labels)), fitted_on)
    return MapResult(scores, codes, reconstructions)


def fit_pca(images: np.ndarray, components: int, seed: int = 0) -> PCA:
    """PCA of the flattened images (the training images, or with --pca-fit test the evaluated test images)."""
    return PCA(n_components=components, random_state=seed).fit(_flat(images))


def pca_reconstruct(pca: PCA, images: np.ndarray) -> np.ndarray:
    """Project onto the components and back, clipped to [0, 1], in the images' shape."""
    return np.clip(pca.inverse_transform(pca.transform(_flat(images))), 0.0, 1.0).reshape(images.shape)


def compare_with_pca(encode: Callable[[np.ndarray], np.ndarray], decode: Callable[[np.ndarray], np.ndarray],
                     pca: PCA, x_train: np.ndarray, y_train: np.ndarray, targets: np.ndarray, labels: np.ndarray,
                     inputs: dict[str, np.ndarray], seed: int = 0,
                     pca_fitted_on: str = "train") -> dict[tuple[str, str], MapResult]:
    """{(method, input kind): MapResult} for 'CAE' (encode/decode) and `pca` on each of `inputs`.

    `targets` are the clean evaluation images, `inputs` maps a name ('clean', 'noisy') to what the
    models are given; `encode` / `decode` turn images into codes and codes into images;
    `pca_fitted_on` says what `pca` was fitted on (the table's `fitted_on` column). The k-NN
    classifiers are fitted on the codes of training images for both methods, whatever PCA saw.
    """
    pick = np.random.default_rng(seed).permutation(len(x_train))[:KNN_TRAIN_IMAGES]
    knns = {"CAE": np.asarray(encode(x_train[pick])), "PCA": pca.transform(_flat(x_train[pick]))}
    knns = {m: KNeighborsClassifier(KNN_NEIGHBOURS).fit(codes, y_train[pick]) for m, codes in knns.items()}
    results = {}
    for kind, images in inputs.items():
        codes = np.asarray(encode(images))
        results["CAE", kind] = _score("CAE", kind, codes, np.asarray(decode(codes)), targets, labels, knns["CAE"])
        results["PCA", kind] = _score("PCA", kind, pca.transform(_flat(images)), pca_reconstruct(pca, images),
                                      targets, labels, knns["PCA"], pca_fitted_on)
    return results


def write_scores(rows: list[Scores], dest: str | os.PathLike) -> Path:
    """The table as CSV (atomic)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, [f.name for f in fields(Scores)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in asdict(row).items()})
    return write_text_atomic(dest, out.getvalue())


def format_scores(rows: list[Scores]) -> str:
    """The table as aligned text for the terminal."""
    lines = [f"{'method':<7}{'code':>5}  {'inputs':<7}{'BCE':>8}{'MSE':>8}{'k-NN acc':>10}{'silhouette':>12}"
             f"  fitted on"]
    lines += [f"{r.method:<7}{r.latent_dim:>4}D  {r.inputs:<7}{r.bce:>8.4f}{r.mse:>8.4f}{r.knn_accuracy:>10.3f}"
              f"{r.silhouette:>12.3f}  {r.fitted_on}" for r in rows]
    return "\n".join(lines)
