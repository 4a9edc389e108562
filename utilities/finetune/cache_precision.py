"""The feature cache's pass in bfloat16, where the hardware makes it fast and the features agree.

The cache runs the frozen trunk once over every image in both flip states, the largest single
cost of a short cached run. Forward passes in bfloat16 run on this CPU's AMX tiles (and a
GPU's tensor cores) 1.7x as fast as float32 (AlexNet's trunk to fc6, batch 128 on 2 cores,
`bench/finetune_run_bench.py`); only the backward to the input is slow in bfloat16, and the
cache needs none. The features are kept only if they agree with float32's: on the first
`CHECK_IMAGES` images (both flip states) every image's feature vector must have a cosine of at
least `MIN_COSINE` with the float32 one, else the whole cache is computed in float32 and the run
report says why.
Training itself is unchanged (float32 variables, head and gradients).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

CACHE_PRECISIONS = ("auto", "float32", "bfloat16")
MIN_COSINE = 0.999
CHECK_IMAGES = 8      # images of the first batch compared (both flip states): ~0.2 s on 2 CPU cores
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")   # /proc/cpuinfo: bfloat16 matrix units or instructions


@dataclass(frozen=True)
class CacheTrunk:
    """The trunk the cache runs and what the report says about it."""

    model: keras.Model
    precision: str
    note: str


def bfloat16_is_fast() -> bool:
    """Whether bfloat16 forward passes beat float32 here: a GPU of compute capability >= 8.0 (Ampere on),
    or a CPU with AMX or AVX-512 BF16 (elsewhere bfloat16 is emulated, slower than float32)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)
        if tuple(capability) >= (8, 0):
            return True
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def bfloat16_copy(trunk: keras.Model) -> keras.Model:
    """`trunk` rebuilt with the mixed_bfloat16 policy (bfloat16 compute, float32 variables), same weights."""
    def rebuilt(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(trunk, clone_function=rebuilt)
    copy.set_weights(trunk.get_weights())
    return copy


def min_cosine(reference: keras.Model, candidate: keras.Model, images: tf.Tensor) -> float:
    """The smallest cosine, over (up to CHECK_IMAGES of) `images` in both flip states, between the two
    trunks' feature vectors."""
    images = images[:CHECK_IMAGES]
    views = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
    a = tf.reshape(tf.cast(reference(views, training=False), tf.float64), (len(views), -1)).numpy()
    b = tf.reshape(tf.cast(candidate(views, training=False), tf.float64), (len(views), -1)).numpy()
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    same = np.all(a == b, axis=1)   # all-zero rows (a dead ReLU layer) agree when both are zero
    cosine = np.where(same, 1.0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0))
    return float(cosine.min())


def choose_cache_trunk(trunk: keras.Model, mode: str, first_images: tf.Tensor | None) -> CacheTrunk:
    """The trunk the cache should run for `--cache-precision mode` (auto: bfloat16 where it is fast),
    checked on `first_images` (a batch of the training input)."""
    if mode not in CACHE_PRECISIONS:
        raise ValueError(f"--cache-precision must be one of {', '.join(CACHE_PRECISIONS)}, got {mode!r}")
    if any(layer.compute_dtype != "float32" for layer in trunk.layers if layer.weights):
        return CacheTrunk(trunk, "model's own", "the model's own precision (--precision)")
    if mode == "float32" or first_images is None:
        return CacheTrunk(trunk, "float32", "float32")
    if mode == "auto" and not bfloat16_is_fast():
        return CacheTrunk(trunk, "float32", "float32 (no bfloat16 hardware found: no AMX, AVX-512 BF16 or GPU "
                                            "of compute capability >= 8.0)")
    fast = bfloat16_copy(trunk)
    cosine = min_cosine(trunk, fast, first_images)
    checked = f"the first {min(CHECK_IMAGES, len(first_images))} images"
    if cosine >= MIN_COSINE:
        return CacheTrunk(fast, "bfloat16", f"bfloat16 ({checked}' features within cosine {cosine:.5f} of "
                                            f"float32's, >= {MIN_COSINE})")
    return CacheTrunk(trunk, "float32", f"float32 (bfloat16 features disagreed with float32's on {checked}: "
                                        f"cosine {cosine:.5f} < {MIN_COSINE})")
