"""Skip the frozen convolutions after the first pass: cache the frozen part's output.

When every trained layer sits after `flatten` (the assignment's setting: only FC layers
train), the frozen part of the network computes the same features for an image in every
epoch. We compute them once for both flip states (the image and its mirror image, the only
augmentation of the original) and later epochs select the cached features by the flip
decision and run only the head. Caching stops at the last deterministic frozen layer: a
frozen FC layer (e.g. fc6 with remove-fc 1) is cached too, but never past a dropout, which
must stay random in every epoch. The head shares its layers (and variables) with the model,
so the updates are the same as with the full model. A network without FC layers (SqueezeNet:
a 1x1 convolution classifier, fire9 trained with it) is split the same way, at the output of
its last frozen fire module (fire8_concat, 13x13x512 at 227: 692 KB per image and flip state).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from utilities.finetune.distribute import unless_empty
from utilities.wikiart.dataset import without_autotune

# Layers whose output depends on `training=True`: the cache must end before the first one.
_TRAINING_DEPENDENT = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout,
                       keras.layers.AlphaDropout, keras.layers.BatchNormalization)


@dataclass(frozen=True)
class FeatureSplit:
    """`model(x) == head(trunk(x))`; only `head` contains trainable or random layers."""

    boundary: str
    trunk: keras.Model
    head: keras.Model
    after_flatten: bool

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.trunk.output.shape[1:])


def _changes_in_training(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, _TRAINING_DEPENDENT)


def split_for_cache(model: keras.Model) -> FeatureSplit | None:
    """Split `model` at the output of its deepest frozen, deterministic layer, or None.

    None when nothing can be skipped (the first layer trains) or the rest of the network is not
    reachable from that single tensor (a skip connection around the boundary).
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    first_live = next((i for i, layer in enumerate(layers)
                       if (layer.trainable and layer.trainable_weights) or _changes_in_training(layer)),
                      None)
    if first_live is None or first_live == 0:
        return None
    boundary = layers[first_live - 1]
    names = [layer.name for layer in layers]
    after_flatten = "flatten" in names and names.index("flatten") <= first_live - 1
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    try:
        trunk = keras.Model(model.inputs[0], boundary.output, name=f"{model.name}_frozen")
        head = keras.Model(boundary.output, model.outputs[0], name=f"{model.name}_head")
    except ValueError:
        return None
    if any(layer.trainable_weights for layer in trunk.layers if layer.trainable):
        return None
    return FeatureSplit(boundary.name, trunk, head, after_flatten)


def cache_bytes(split: FeatureSplit, examples: int, flip_states: int = 2) -> int:
    """Memory the cache of `examples` images will take."""
    itemsize = tf.as_dtype(split.trunk.output.dtype).size
    return int(examples * flip_states * np.prod(split.feature_shape) * itemsize)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def compute_features(trunk: keras.Model, batches: tf.data.Dataset, num_examples: int, *,
                     strategy: tf.distribute.Strategy | None = None,
                     flips: Sequence[bool] = (False, True),
                     progress: Callable[[Iterable], Iterable] = iter) -> tuple[np.ndarray, np.ndarray]:
    """Run `trunk` once over `batches` of (images, index) for every flip state in `flips`.

    `progress` wraps the batch iterator (e.g. a tqdm bar). Returns (features of shape
    (num_examples, len(flips), *feature_shape), valid mask). Rows whose image never arrived
    (unreadable files skipped by the pipeline) stay invalid.
    """
    strategy = strategy or tf.distribute.get_strategy()
    flips = tuple(bool(f) for f in flips)

    @tf.function
    def features_of(images):
        # Every flip state in one call of twice the batch: one pass through the trunk's kernels.
        def compute():
            views = tf.concat([tf.reverse(images, axis=[2]) if flip else images for flip in flips], axis=0)
            features = tf.cast(trunk(views, training=False), dtype)   # a bfloat16 trunk's too (cache_precision)
            return tf.stack(tf.split(features, len(flips), axis=0), axis=1)

        return unless_empty(strategy, compute, images, (len(flips), *feature_shape), dtype)

    batches = without_autotune(batches)   # the autotuner would compete with the trunk for the cores
    dtype = tf.float32 if tf.as_dtype(trunk.output.dtype) == tf.bfloat16 else tf.as_dtype(trunk.output.dtype)
    feature_shape = [int(d) for d in trunk.output.shape[1:]]
    out = np.zeros((num_examples, len(flips), *feature_shape), dtype=dtype.as_numpy_dtype)
    valid = np.zeros(num_examples, dtype=bool)
    for images, index in progress(strategy.experimental_distribute_dataset(batches)):
        per_replica = strategy.run(features_of, args=(images,))
        feats = strategy.gather(per_replica, axis=0).numpy()
        rows = strategy.gather(index, axis=0).numpy()
        out[rows] = feats
        valid[rows] = True
    return out, valid
