"""Test helpers for style transfer: a tiny VGG-shaped network, real photos, NumPy reference losses."""
from __future__ import annotations

import numpy as np


def tiny_vgg(seed: int = 0, size: int = 32):
    """A 3-block VGG look-alike (Keras layer names, caffe-scale first layer) with seeded He weights."""
    import keras

    rng = np.random.default_rng(seed)
    inputs = keras.Input((size, size, 3))
    x = inputs
    for block, filters in ((1, 8), (2, 12), (3, 16)):
        for i in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{block}_conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="predictions")(x), name="tiny_vgg")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            fan_in = np.prod(kernel.shape[:-1])
            scale = np.sqrt(2.0 / fan_in) * (0.01 if layer.name == "block1_conv1" else 1.0)
            layer.set_weights([rng.standard_normal(kernel.shape) * scale, rng.standard_normal(bias.shape) * 0.1])
    return model


def photo(name: str, long_side: int) -> np.ndarray:
    """A scikit-image sample photo as float32 RGB 0..255 with its longest side `long_side`."""
    import skimage.data

    from utilities.style_transfer.images import resize_long_side

    return resize_long_side(getattr(skimage.data, name)().astype(np.float32), long_side)


def np_gram(features: np.ndarray, normalize: bool = True) -> np.ndarray:
    n, h, w, c = features.shape
    flat = features.reshape(n, h * w, c).astype(np.float64)
    gram = np.stack([f.T @ f for f in flat])
    return gram / (h * w * c) if normalize else gram


def np_content(weight: float, current: np.ndarray, original: np.ndarray) -> float:
    return weight * float(np.sum((current.astype(np.float64) - original) ** 2))


def np_style(features: list[np.ndarray], targets: list[np.ndarray], weights: list[float],
             normalize: bool = True) -> float:
    return sum(w * float(np.sum((np_gram(f, normalize) - a) ** 2))
               for f, a, w in zip(features, targets, weights, strict=True))


def np_tv(images: np.ndarray, weight: float) -> float:
    x = images.astype(np.float64)
    return weight * float(np.sum((x[:, 1:] - x[:, :-1]) ** 2) + np.sum((x[:, :, 1:] - x[:, :, :-1]) ** 2))


def yiq_chroma(rgb: np.ndarray) -> np.ndarray:
    """I and Q of an RGB 0..255 picture (the standard NTSC matrix, written out independently)."""
    r, g, b = (rgb[..., k].astype(np.float64) for k in range(3))
    return np.stack([0.596 * r - 0.274 * g - 0.322 * b, 0.211 * r - 0.523 * g + 0.312 * b], axis=-1)


_FILES: dict[str, object] = {}


def vgg16_weight_file(tmp_path_factory, caffe_arrays) -> object:
    """machrisaa's vgg16.npy layout with conftest's seeded weights, written once per test session."""
    if "vgg16" not in _FILES or not _FILES["vgg16"].exists():
        from tests.synthetic_weights import write_pickled_npy

        _FILES["vgg16"] = write_pickled_npy(tmp_path_factory.mktemp("style_vgg16") / "vgg16.npy", caffe_arrays)
    return _FILES["vgg16"]
