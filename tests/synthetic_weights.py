"""Seeded synthetic weights with the exact shapes of the real files (no downloads in tests).

Scales follow He initialisation so activations neither vanish nor explode through the
network, which keeps logits in a range where float comparisons are meaningful.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ALEXNET_SHAPES = {
    "conv1": (11, 11, 3, 96), "conv2": (5, 5, 48, 256), "conv3": (3, 3, 256, 384),
    "conv4": (3, 3, 192, 384), "conv5": (3, 3, 192, 256),
    "fc6": (9216, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000),
}

VGG16_SHAPES = {
    "conv1_1": (3, 3, 3, 64), "conv1_2": (3, 3, 64, 64),
    "conv2_1": (3, 3, 64, 128), "conv2_2": (3, 3, 128, 128),
    "conv3_1": (3, 3, 128, 256), "conv3_2": (3, 3, 256, 256), "conv3_3": (3, 3, 256, 256),
    "conv4_1": (3, 3, 256, 512), "conv4_2": (3, 3, 512, 512), "conv4_3": (3, 3, 512, 512),
    "conv5_1": (3, 3, 512, 512), "conv5_2": (3, 3, 512, 512), "conv5_3": (3, 3, 512, 512),
    "fc6": (25088, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000),
}


def _he(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fan_in = int(np.prod(shape[:-1]))
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))


def random_arrays(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {name: [_he(rng, shape), rng.standard_normal(shape[-1], dtype=np.float32) * np.float32(0.1)]
            for name, shape in shapes.items()}


def alexnet_arrays(seed: int = 0) -> dict[str, list[np.ndarray]]:
    arrays = random_arrays(ALEXNET_SHAPES, seed)
    # Real first-layer inputs are ~±128: shrink conv1 so LRN and ReLUs see a realistic range.
    arrays["conv1"][0] *= np.float32(0.01)
    return arrays


def vgg16_caffe_arrays(seed: int = 1) -> dict[str, list[np.ndarray]]:
    arrays = random_arrays(VGG16_SHAPES, seed)
    arrays["conv1_1"][0] *= np.float32(0.01)
    return arrays


def write_pickled_npy(path: Path, arrays: dict, *, bytes_keys: bool = False) -> Path:
    """np.save of a dict, like bvlc_alexnet.npy / vgg16.npy (protocol 2, optional bytes keys)."""
    data = {(k.encode() if bytes_keys else k): list(v) for k, v in arrays.items()}
    with open(path, "wb") as f:
        np.save(f, np.array(data, dtype=object), allow_pickle=True)
    return path


def write_frossard_npz(path: Path, caffe_arrays: dict) -> Path:
    """Frossard's layout: <layer>_W/<layer>_b, first conv expecting RGB input."""
    flat = {}
    for name, (w, b) in caffe_arrays.items():
        if name == "conv1_1":
            w = w[:, :, ::-1, :]
        flat[f"{name}_W"], flat[f"{name}_b"] = w, b
    np.savez(path, **flat)
    return path




def write_legacy_keras_h5(path: Path, keras_named_arrays: dict, layer_order: list[str]) -> Path:
    """The Keras 2 weights-only h5 layout of keras.applications files (names end in ':0')."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name in layer_order]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name in layer_order:
            group = f.create_group(name)
            arrays = keras_named_arrays.get(name, [])
            weight_names = [f"{name}/kernel:0", f"{name}/bias:0"][: len(arrays)]
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            for weight_name, array in zip(weight_names, arrays, strict=True):
                group.create_dataset(weight_name, data=array)
    return path
