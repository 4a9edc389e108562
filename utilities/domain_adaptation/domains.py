"""Source and target domains of one experiment: MNIST -> MNIST-M, or digits / mnist5k -> blended copies offline.

Source images stay grey (N, 28, 28, 1) float32 in [0, 1] and target images uint8 RGB; the
network sees both through `network_input` (replicate grey to RGB as Ganin did, scale to
[0, 1], subtract the per-channel mean of both training sets as pumpikano/tf-dann does), so
the 60,000-image sets are not held twice in float32 RGB.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.digits import ImageSet, load_image_set
from utilities.domain_adaptation.bsds import BSDS_URL
from utilities.domain_adaptation.mnistm import BUILD_SEED, BlendedSet, build_blended_set, load_mnistm
from utilities.domain_adaptation.photos import skimage_photos

DATASETS = ("digits", "mnist", "mnist5k")
TARGET_NAMES = {"digits": "blended digits (scikit-image photos)", "mnist": "MNIST-M",
                "mnist5k": "blended mnist5k (scikit-image photos)"}


@dataclass(frozen=True)
class DomainPair:
    """Labelled source, unlabelled target (its labels only score the run), and the input mean."""

    dataset: str
    source_name: str
    target_name: str
    xs_train: np.ndarray
    ys_train: np.ndarray
    xs_test: np.ndarray
    ys_test: np.ndarray
    xt_train: np.ndarray
    yt_train: np.ndarray
    xt_test: np.ndarray
    yt_test: np.ndarray
    mean: np.ndarray  # (3,) float32, subtracted from inputs in [0, 1]


def unit_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] float images with 1 or 3 channels -> float32 RGB in [0, 1]."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def network_input(images: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """What the feature extractor is fed: float32 RGB in [0, 1] minus the per-channel mean."""
    return unit_rgb(images) - mean


def channel_mean(*image_sets: np.ndarray) -> np.ndarray:
    """Per-channel mean over all images of all sets, computed in chunks (float32 RGB in [0, 1])."""
    total, count = np.zeros(3, np.float64), 0
    for images in image_sets:
        for start in range(0, len(images), 4096):
            chunk = unit_rgb(images[start:start + 4096])
            total += chunk.sum(axis=(0, 1, 2), dtype=np.float64)
            count += chunk.shape[0] * chunk.shape[1] * chunk.shape[2]
    return (total / max(count, 1)).astype(np.float32)


def blended_digits(seed: int = BUILD_SEED, source: ImageSet | None = None) -> BlendedSet:
    """An offline target: `source` (default scikit-learn's digits; same split) blended with skimage photos."""
    source = source if source is not None else load_image_set("digits")
    return build_blended_set(f"blended_{source.name}", source, skimage_photos(), seed)


def load_domains(dataset: str, cache_dir: Path, *, progress: bool = True, bsds_url: str = BSDS_URL) -> DomainPair:
    """`digits` (offline), `mnist` (MNIST downloaded into Keras' cache; MNIST-M built in `cache_dir`) or `mnist5k`.

    `mnist5k` (utilities.digits.mnist5k: 5,000 real MNIST digits, 4,000 / 1,000 stratified) is blended
    with the scikit-image photos the way MNIST-M blends MNIST with BSDS500 (offline once the digits are cached).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == "digits":
        source, target = load_image_set("digits"), blended_digits()
    elif dataset == "mnist5k":
        source = load_image_set("mnist5k")
        target = blended_digits(source=source)
    else:
        source = load_image_set("mnist", progress=progress)
        target = load_mnistm(source, cache_dir, url=bsds_url, progress=progress)
    mean = channel_mean(source.x_train, target.x_train)
    return DomainPair(dataset, source.name, TARGET_NAMES[dataset], source.x_train, source.y_train, source.x_test,
                      source.y_test, target.x_train, target.y_train, target.x_test, target.y_test, mean)
