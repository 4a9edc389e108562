"""Occlusion (Zeiler & Fergus 2014): hide a patch, see how much the class score drops.

A `window` x `window` square slides over the image with step `stride` (the last row and column
of positions are moved in so the border is covered too). At each position the square is
replaced by `baseline` (each image's own mean colour by default: a neutral grey-ish patch, as
in the paper's grey squares; or a number in the units you pass) and the class logits are
recomputed. A pixel's attribution is the mean score drop over the positions that hid it
(Captum's rule); only drops are kept (ReLU), so the map shows evidence *for* the class, like
the other maps here.

Cost: one forward pass per position (13 x 13 = 169 for 224 px with the default window 32 and
stride 16), batched: the occluded copies of a chunk of images go through the model together,
at most `pass_batch` inputs per pass, in a traced loop. No gradients: it explains any model,
even a non-differentiable one.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from utilities.explain._passes import passes_for
from utilities.explain.base import Explainer, Preprocess, resolve_classes, selected_logits


def window_positions(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of the window along one axis, the last one flush with the border."""
    window = min(window, size)
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def occlusion_masks(height: int, width: int, window: int, stride: int) -> np.ndarray:
    """(P, height, width) float32: 1 inside the window at each of the P positions."""
    rows, cols = window_positions(height, window, stride), window_positions(width, window, stride)
    masks = np.zeros((len(rows) * len(cols), height, width), np.float32)
    for i, (top, left) in enumerate((t, c) for t in rows for c in cols):
        masks[i, top:top + min(window, height), left:left + min(window, width)] = 1.0
    return masks


class Occlusion(Explainer):
    """Mean drop of the class logit when a window around the pixel is hidden, ReLU'd.

    Args:
        window: side of the square in pixels (None: a seventh of the image's shorter side, at least 3).
        stride: step between positions (None: half the window).
        baseline: "mean" (each image's mean colour) or a number to fill the square with.
        pass_batch: most occluded inputs per forward pass (memory bound).
    """

    name = "occlusion"
    title = "Occlusion"

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None, batch_size: int = 8,
                 window: int | None = None, stride: int | None = None, baseline: str | float = "mean",
                 pass_batch: int = 32):
        if window is not None and window < 1 or stride is not None and stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
        if pass_batch < 1:
            raise ValueError(f"pass_batch must be >= 1, got {pass_batch}")
        if not (baseline == "mean" or isinstance(baseline, (int, float))):
            raise ValueError(f"baseline must be 'mean' or a number, got {baseline!r}")
        self.window, self.stride, self.baseline, self.pass_batch = window, stride, baseline, pass_batch
        super().__init__(model, preprocess, batch_size)

    def geometry(self, height: int, width: int) -> tuple[int, int]:
        """(window, stride) for an image of this size."""
        window = self.window or max(3, min(height, width) // 7)
        return window, self.stride or max(1, window // 2)

    def _explain_batch(self, x, classes):
        height, width = x.shape[1], x.shape[2]
        if height is None or width is None:
            raise ValueError("Occlusion needs images of a known size")
        window, stride = self.geometry(height, width)
        masks = occlusion_masks(height, width, window, stride)
        positions = len(masks)
        per_pass, count = passes_for(positions, self.pass_batch, self.batch_size)
        padded = np.zeros((per_pass * count, height, width), np.float32)   # empty masks: no change
        padded[:positions] = masks
        padded = tf.constant(padded)

        logits = self.logits(x)
        classes = resolve_classes(tf.cast(logits, tf.float32), classes)
        clean = selected_logits(logits, classes)                                  # (N, K)
        fill = (tf.reduce_mean(x, axis=(1, 2), keepdims=True) if self.baseline == "mean"
                else tf.fill(tf.shape(x[:, :1, :1]), tf.cast(self.baseline, x.dtype)))
        n, k = tf.shape(x)[0], tf.shape(classes)[1]
        drops = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            chunk = padded[i * per_pass:(i + 1) * per_pass][None, ..., None]     # (1, B, H, W, 1)
            hidden = x[:, None] * (1.0 - chunk) + fill[:, None] * chunk           # (N, B, H, W, C)
            scores = self.logits(tf.reshape(hidden, tf.concat([[-1], tf.shape(x)[1:]], 0)))
            scores = tf.reshape(tf.cast(scores, tf.float32), [n, per_pass, -1])
            wanted = tf.gather(scores, tf.tile(classes[:, None, :], [1, per_pass, 1]), batch_dims=2)
            drops = drops.write(i, clean[:, None, :] - wanted)                    # (N, B, K)
        drops = tf.reshape(tf.transpose(drops.stack(), [1, 0, 2, 3]), [n, per_pass * count, k])
        coverage = tf.maximum(tf.reduce_sum(padded, axis=0), 1.0)                # (H, W)
        maps = tf.einsum("npk,phw->nkhw", drops, padded) / coverage
        return logits, classes, tf.nn.relu(maps)
