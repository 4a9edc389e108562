"""Readers for every weight file users have, returning `{our layer name: [kernel, bias]}`.

Formats (chosen by file name):
- `.npy`  pickled dict `name -> [W, b]` (or `{'weights': W, 'biases': b}` as caffe-tensorflow
  writes): Guerzhoy's `bvlc_alexnet.npy`, machrisaa's `vgg16.npy`. Keys may be bytes.
  A pickle can run arbitrary code when loaded (and bvlc_alexnet.npy is served over plain
  http), so these files are read with a restricted unpickler that only rebuilds dicts,
  lists and numpy arrays and refuses anything else.
- `.npz`  Frossard's `vgg16_weights.npz`: `conv1_1_W`, `conv1_1_b`, ..., `fc8_b`.
- `.h5`   Keras 2 / legacy h5 (`keras.applications` weights, `model.save('x.h5')`). Keras 2
  allowed '/' in layer names (rcmalli's SqueezeNet h5: `fire2/squeeze1x1`); Keras 3 forbids
  it, so such a name is read as `fire2_squeeze1x1`.
- `.weights.h5`  Keras 3 `model.save_weights`.
- `.keras`  Keras 3 `model.save` (weights read from the archive, the architecture is ours).
- `.pth`, `.pt`, `.pth.tar`  PyTorch checkpoints (torchvision state dicts): read without PyTorch
  by models/torch_checkpoint.py and mapped per network by models/torchvision_weights.py, so they
  go through `models.build_model`, not `read_weight_file`.

VGG16 files in the Caffe naming (conv1_1 ... fc8) are renamed to the Keras naming
(block1_conv1 ... predictions). Frossard's file expects RGB input (his graph subtracts an RGB
mean from RGB images), so the input channels of its first kernel are reversed to match the
BGR input every other source uses.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import h5py
import numpy as np

Weights = dict[str, list[np.ndarray]]


class WeightsError(ValueError):
    """A weight file is missing, unreadable or does not fit the model."""


VGG_CAFFE_TO_KERAS = {
    **{f"conv{b}_{i}": f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
       for i in range(1, n + 1)},
    "fc6": "fc1", "fc7": "fc2", "fc8": "predictions",
}


def _text(key) -> str:
    return key.decode("latin1") if isinstance(key, bytes) else str(key)


def _pair(value, name: str, path: Path) -> list[np.ndarray]:
    if isinstance(value, dict):
        value = {_text(k): v for k, v in value.items()}
        if "weights" in value:
            return [np.asarray(value["weights"]), np.asarray(value["biases"])]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return [np.asarray(v) for v in value]
    raise WeightsError(f"{path}: entry {name!r} is not a [weights, biases] pair")


_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; any other global is refused."""

    def find_class(self, module, name):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not a weight array)")
        return super().find_class(module, name)


def _load_pickled_npy(path: Path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(f)
        if not dtype.hasobject:
            return np.fromfile(f, dtype=dtype).reshape(shape)
        return _ArraysOnlyUnpickler(f, encoding="latin1").load()


def read_npy(path: Path) -> Weights:
    """A pickled dict name -> [W, b] saved with np.save (Python 2 pickles included)."""
    try:
        data = _load_pickled_npy(path)
        data = data.item() if isinstance(data, np.ndarray) and data.dtype == object else data
    except pickle.UnpicklingError as exc:
        raise WeightsError(f"{path}: unsafe or damaged pickle ({exc}); only weight dicts are loaded") from exc
    except Exception as exc:  # numpy raises many types for a damaged pickle
        raise WeightsError(f"{path}: cannot read as a pickled .npy weight dict ({exc}); "
                           f"delete it and download it again") from exc
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a pickled dict of layer weights, found {type(data).__name__}")
    return {_text(k): _pair(v, _text(k), path) for k, v in data.items()}


def read_npz(path: Path) -> Weights:
    """Frossard's npz: `<layer>_W` and `<layer>_b` arrays; conv1_1 converted from RGB to BGR."""
    try:
        data = np.load(path)
        arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read as an .npz archive ({exc})") from exc
    out: Weights = {}
    for key in arrays:
        if key.endswith("_W"):
            name = key[:-2]
            if f"{name}_b" not in arrays:
                raise WeightsError(f"{path}: {key} has no matching {name}_b")
            out[name] = [arrays[key], arrays[f"{name}_b"]]
    if not out:
        raise WeightsError(f"{path}: no '<layer>_W' / '<layer>_b' arrays found (Frossard npz layout)")
    if "conv1_1" in out:
        out["conv1_1"][0] = out["conv1_1"][0][:, :, ::-1, :].copy()
    return out


def keras3_layer_name(name: str) -> str:
    """A Keras 2 layer name as Keras 3 can spell it: '/' (a scope separator there) -> '_'."""
    return name.replace("/", "_")


def _read_legacy_h5(group: h5py.Group, path: Path) -> Weights:
    out: Weights = {}
    for name in group.attrs["layer_names"]:
        name = _text(name)
        layer = group[name]
        # A weight name such as 'fire2/squeeze1x1_W:0' is a path below the layer's group.
        arrays = [np.asarray(layer[_text(w)]) for w in layer.attrs.get("weight_names", [])]
        if arrays:
            ours = keras3_layer_name(name)
            if ours in out:
                raise WeightsError(f"{path}: layers {name!r} and {ours!r} would share the name {ours!r}")
            out[ours] = arrays
    return out


def _read_keras3_h5(root: h5py.Group) -> Weights:
    out: Weights = {}

    def visit(_, obj):
        if isinstance(obj, h5py.Group) and obj.name.endswith("/vars") and len(obj):
            keys = sorted(obj.keys(), key=int)
            out[_text(obj.attrs.get("name", obj.parent.name.rsplit("/", 1)[-1]))] = [
                np.asarray(obj[k]) for k in keys]

    root.visititems(visit)
    return out


def _read_h5_file(f: h5py.File, path: Path) -> Weights:
    if "layer_names" in f.attrs:
        return _read_legacy_h5(f, path)
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
        return _read_legacy_h5(f["model_weights"], path)
    if "layers" in f:
        return _read_keras3_h5(f["layers"])
    raise WeightsError(f"{path}: not a Keras weights file (no 'layer_names' or 'layers' inside)")


def read_h5(path: Path) -> Weights:
    """Keras legacy `.h5` (weights-only or full model) and Keras 3 `.weights.h5`."""
    try:
        with h5py.File(path, "r") as f:
            return _read_h5_file(f, path)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot open as HDF5 ({exc}); the file may be truncated") from exc


def read_keras(path: Path) -> Weights:
    """A Keras 3 `.keras` archive: read `model.weights.h5` inside it."""
    try:
        with zipfile.ZipFile(path) as archive:
            blob = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise WeightsError(f"{path}: not a Keras 3 .keras archive ({exc})") from exc
    with h5py.File(io.BytesIO(blob), "r") as f:
        return _read_h5_file(f, path)


def read_weight_file(path: str | Path) -> Weights:
    """Dispatch on the file name; raise WeightsError for a missing file or unknown suffix."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    name = path.name.lower()
    if name.endswith(".npy"):
        return read_npy(path)
    if name.endswith(".npz"):
        return read_npz(path)
    if name.endswith(".h5") or name.endswith(".hdf5"):
        return read_h5(path)
    if name.endswith(".keras"):
        return read_keras(path)
    if name.endswith((".pth", ".pt", ".pth.tar")):
        raise WeightsError(f"{path}: a PyTorch checkpoint; its layer names depend on the network: load it with "
                           f"models.build_model(name, weights=path) (torchvision vgg16, vgg19, squeezenet1_1)")
    raise WeightsError(f"{path}: unknown weights format; use .npy, .npz, .h5, .weights.h5, .keras or a "
                       f"torchvision .pth")


def to_keras_vgg_names(weights: Weights) -> Weights:
    """Rename Caffe-style VGG16 layer names (conv1_1, fc6, ...) to the Keras ones."""
    return {VGG_CAFFE_TO_KERAS.get(name, name): value for name, value in weights.items()}
