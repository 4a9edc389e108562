"""Two handout questions answered by the tool: how many parameters (and how many in the FC
layers), and what the first convolution responds to in an image (its activation maps)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from utilities.common.figures import save_figure
from utilities.wikiart.decode import decode_rgb, resize_uint8


@dataclass(frozen=True)
class ParameterCounts:
    """Per-layer parameter counts, split into convolutional and fully-connected layers."""

    model: str
    rows: tuple[tuple[str, str, str, int], ...]  # name, type, output shape, parameters

    @property
    def total(self) -> int:
        return sum(row[3] for row in self.rows)

    def of_type(self, kind: str) -> int:
        return sum(row[3] for row in self.rows if row[1] == kind)


def _kind(layer) -> str:
    if isinstance(layer, keras.layers.Dense):
        return "fc"
    return "conv" if layer.weights else "-"


def parameter_counts(model: keras.Model) -> ParameterCounts:
    rows = tuple((layer.name, _kind(layer), str(tuple(layer.output.shape[1:])), int(layer.count_params()))
                 for layer in model.layers if not isinstance(layer, keras.layers.InputLayer))
    return ParameterCounts(model.name, rows)


def format_counts(counts: ParameterCounts) -> str:
    """A `model.summary()`-style table and the conv / FC totals."""
    lines = [f"{counts.model}: parameters per layer", f"  {'layer':<16}{'output shape':<22}{'parameters':>14}"]
    lines += [f"  {name:<16}{shape:<22}{params:>14,}" for name, _, shape, params in counts.rows]
    total, fc, conv = counts.total, counts.of_type("fc"), counts.of_type("conv")
    lines.append(f"  total {total:,}: convolutional {conv:,} ({100 * conv / total:.1f}%), "
                 f"fully connected {fc:,} ({100 * fc / total:.1f}%)")
    return "\n".join(lines)


def first_conv(model: keras.Model) -> str:
    return next(layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def read_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """uint8 RGB (size, size, 3), decoded and resized as the feature pipeline does."""
    return resize_uint8(decode_rgb(tf.io.read_file(str(path))), size).numpy()


def activation_maps(model: keras.Model, image: np.ndarray, preprocess, layer: str | None = None) -> np.ndarray:
    """(H, W, C) output of `layer` (default: the first convolution) for one uint8 RGB image."""
    layer = layer or first_conv(model)
    from utilities.features_svm.layers import _model_to_layer  # a re-traced (.keras) model's graph too

    tap = _model_to_layer(model, model.inputs[0], model.get_layer(layer), f"{model.name}_{layer}")
    x = preprocess(image[None].astype(np.float32))
    return np.asarray(tap(x, training=False)[0], np.float32)


def mosaic(maps: np.ndarray, pad: int = 2) -> np.ndarray:
    """(H, W, C) maps -> one image tiling every channel, each scaled to [0, 1] on its own (NaN gaps)."""
    h, w, channels = maps.shape
    cols = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, np.float32)
    for c in range(channels):
        m = maps[..., c]
        span = float(m.max() - m.min())
        r, q = divmod(c, cols)
        out[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = (m - m.min()) / span if span else 0
    return out


def save_activation_figure(image: np.ndarray, maps: np.ndarray, dest: str | os.PathLike, title: str) -> Path:
    """The image beside a mosaic of every channel's map (each scaled to its own range, row-major order)."""
    fig = Figure(figsize=(13, 6.2))
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.6])
    left.imshow(image)
    left.set_title(title, fontsize=9)
    right.imshow(mosaic(maps), cmap="viridis", interpolation="nearest")
    right.set_title(f"{maps.shape[-1]} channels, row by row from 0", fontsize=9)
    for ax in (left, right):
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, dest)
