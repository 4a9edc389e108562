"""Read PyTorch checkpoint files (`torch.save` of a state dict) without PyTorch.

Two container formats exist, and torchvision's published files use both:

- **zip** (torch >= 1.6, the default since): a zip archive whose one top folder (any name) holds
  `data.pkl` (the pickled object), `byteorder` ("little" or "big"; absent in old files: little)
  and `data/<key>`, the raw bytes of each storage.
- **legacy** (torch 0.1.10 - 1.5, the 2017 torchvision files, and `torch.save(...,
  _use_new_zipfile_serialization=False)`): five things one after the other in one stream: the
  pickled magic number 0x1950a86a20f9469cfc6c, the pickled protocol version 1001, a pickled dict
  of system information (`little_endian`, type sizes), the pickled object, the pickled list of
  storage keys, then for each key in that order an int64 element count and the storage's raw bytes.

In both, tensors are pickled as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, backward_hooks)` (`_rebuild_tensor(storage, offset, size, stride)` before
torch 0.4) where `storage` is a *persistent id*, `('storage', torch.FloatStorage, key, location,
numel)` (legacy: plus a view description, normally None). Here each tensor is rebuilt with NumPy
from its storage, offset, shape and strides (bounds checked, then copied into a C-contiguous
array). bfloat16 (which NumPy lacks) is widened to float32 exactly.

Pickles can run arbitrary code when loaded. The unpickler here resolves only the globals a
state dict needs (`collections.OrderedDict`, the tensor rebuild functions and the storage type
names, which are mapped to NumPy dtypes and never to torch objects) and refuses every other one
with a WeightsError before anything runs. Members and storages are size-limited.
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from models.weight_formats import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".pth.tar")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_PICKLE_BYTES = 64 * 1024 * 1024          # a state dict's pickle is a few hundred kB
MAX_STORAGE_BYTES = 4 * 1024 * 1024 * 1024   # VGG's fc1 (the largest tensor here) is 411 MB

# torch storage type name -> (numpy dtype of its bytes, element size)
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("float32"), "DoubleStorage": np.dtype("float64"),
    "HalfStorage": np.dtype("float16"), "BFloat16Storage": np.dtype("uint16"),  # widened later
    "LongStorage": np.dtype("int64"), "IntStorage": np.dtype("int32"), "ShortStorage": np.dtype("int16"),
    "CharStorage": np.dtype("int8"), "ByteStorage": np.dtype("uint8"), "BoolStorage": np.dtype("bool"),
}


class _StorageType:
    """What `torch.FloatStorage` etc. unpickle to: a name and the dtype of its bytes."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    def __repr__(self):
        return f"torch.{self.name}"


class _Storage:
    """A storage's bytes as a flat NumPy array (`data`), and whether it holds bfloat16."""

    def __init__(self, data: np.ndarray, bfloat16: bool):
        self.data, self.bfloat16 = data, bfloat16


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


class _TensorRef:
    """A pickled tensor: its storage and layout, turned into an array by `_materialize`.

    Rebuilding waits until the whole file is read: a legacy file's storage bytes come after the pickle.
    """

    def __init__(self, storage, storage_offset=0, size=(), stride=(), *_ignored):
        self.storage, self.offset, self.size, self.stride = storage, storage_offset, size, stride


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _tensor_array(ref: _TensorRef) -> np.ndarray:
    """torch._utils._rebuild_tensor(_v2) in NumPy: a strided view of the storage, bounds-checked.

    A C-contiguous tensor is a view of its storage (tensors sharing a storage share memory, as in
    torch); any other layout is copied into a C-contiguous array.
    """
    storage = ref.storage
    if not isinstance(storage, _Storage):
        raise WeightsError(f"a tensor's storage is {type(storage).__name__}, not a storage")
    try:
        offset, shape = int(ref.offset), tuple(int(s) for s in ref.size)
        strides = tuple(int(s) for s in ref.stride)
    except (TypeError, ValueError):
        raise WeightsError("a tensor has a malformed offset, size or stride") from None
    if len(shape) != len(strides) or offset < 0 or any(n < 0 for n in shape) or any(s < 0 for s in strides):
        raise WeightsError(f"a tensor has an invalid layout (offset {offset}, size {shape}, stride {strides})")
    data = storage.data
    if 0 in shape:
        array = np.zeros(shape, dtype=data.dtype)
    elif strides == _contiguous_strides(shape) and offset + math.prod(shape) <= data.size and data.flags.writeable:
        array = data[offset:offset + math.prod(shape)].reshape(shape)   # a view: no copy of VGG's 411 MB fc1
    else:
        last = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= data.size:
            raise WeightsError(f"a tensor (offset {offset}, size {shape}, stride {strides}) reaches element "
                               f"{last} of a storage of {data.size}")
        view = np.lib.stride_tricks.as_strided(data[offset:], shape=shape,
                                               strides=[s * data.itemsize for s in strides], writeable=False)
        array = np.array(view, copy=True, order="C")
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return _bfloat16_to_float32(array) if storage.bfloat16 else array


def _materialize(obj):
    """Replace every _TensorRef in `obj` (through dicts, lists and tuples) by its array."""
    if isinstance(obj, _TensorRef):
        return _tensor_array(obj)
    if isinstance(obj, dict):
        out = type(obj)((k, _materialize(v)) for k, v in obj.items())
        if isinstance(obj, collections.OrderedDict) and hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    if isinstance(obj, list):
        return [_materialize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v) for v in obj)
    return obj


# (module, name) -> what it unpickles to. Nothing else is ever resolved.
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _TensorRef,
    ("torch._utils", "_rebuild_tensor_v2"): _TensorRef,
    ("torch._utils", "_rebuild_parameter"): lambda data, requires_grad=False, hooks=None: data,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, persistent_load: Callable | None = None):
        super().__init__(file, encoding="latin1")
        self._persistent = persistent_load

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsError(f"refusing to load {module}.{name} (a checkpoint of tensors needs no "
                               f"other objects; it may be a full model or a malicious file)") from None

    def persistent_load(self, pid):
        if self._persistent is None:
            raise WeightsError("unexpected persistent id in a plain pickle")
        return self._persistent(pid)


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _storage_id(pid) -> tuple[_StorageType, str, int, tuple | None]:
    """('storage', type, key, location, numel[, view]) -> (type, key, numel, view)."""
    if not isinstance(pid, tuple) or len(pid) not in (5, 6) or _text(pid[0]) != "storage":
        kind = _text(pid[0]) if isinstance(pid, tuple) and pid else type(pid).__name__
        raise WeightsError(f"refusing a persistent id of kind {kind!r} (only tensor storages are loaded; "
                           f"a whole pickled model is not supported, save its state_dict())")
    storage_type, key, numel = pid[1], _text(pid[2]), pid[4]
    if not isinstance(storage_type, _StorageType):
        raise WeightsError(f"storage {key!r} has an unknown type {storage_type!r}")
    if not isinstance(numel, int) or numel < 0:
        raise WeightsError(f"storage {key!r} has an invalid size {numel!r}")
    view = pid[5] if len(pid) == 6 else None
    return storage_type, key, numel, view


def _unpickle(data: BinaryIO, persistent_load: Callable | None, where: str):
    try:
        return _RestrictedUnpickler(data, persistent_load).load()
    except WeightsError:
        raise
    except Exception as exc:  # pickle raises many types for damaged data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"damaged pickle in {where} ({reason})") from None


def _read_zip(path: Path, max_pickle_bytes: int, max_storage_bytes: int):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"{path}: not a readable zip archive ({exc})") from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            hint = " (a TorchScript archive: torch.jit.save)" if any(n.endswith("constants.pkl") for n in names) else ""
            raise WeightsError(f"{path}: a zip archive but not a torch.save checkpoint{hint}: "
                               f"expected one <folder>/data.pkl, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]

        def member(name: str, limit: int) -> bytes:
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise WeightsError(f"{path}: member {name} is missing") from None
            if info.file_size > limit:
                raise WeightsError(f"{path}: member {name} is {info.file_size} bytes, more than the {limit} allowed")
            with archive.open(info) as stream:
                blob = stream.read(limit + 1)
            if len(blob) > limit:
                raise WeightsError(f"{path}: member {name} holds more than the {limit} bytes allowed")
            return blob

        order = "<"
        if prefix + "byteorder" in names:
            text = member(prefix + "byteorder", 16).decode("ascii", "replace").strip()
            if text not in ("little", "big"):
                raise WeightsError(f"{path}: unknown byteorder {text!r}")
            order = "<" if text == "little" else ">"
        storages: dict[str, _Storage] = {}

        def persistent_load(pid):
            storage_type, key, numel, _ = _storage_id(pid)
            if key not in storages:
                if "/" in key or key.startswith("."):
                    raise WeightsError(f"{path}: invalid storage key {key!r}")
                dtype = storage_type.dtype.newbyteorder(order)
                blob = member(f"{prefix}data/{key}", max_storage_bytes)
                if len(blob) < numel * dtype.itemsize:
                    raise WeightsError(f"{path}: storage {key} has {len(blob)} bytes, "
                                       f"{numel} x {dtype.itemsize} are needed")
                # A writable copy of one storage at a time: contiguous tensors are then views of it.
                data = np.frombuffer(bytearray(blob[:numel * dtype.itemsize]), dtype=dtype, count=numel)
                del blob
                storages[key] = _Storage(data, storage_type.name == "BFloat16Storage")
            return storages[key]

        blob = member(pickles[0], max_pickle_bytes)
        return _unpickle(io.BytesIO(blob), persistent_load, f"{path}:{pickles[0]}")


def _read_legacy(path: Path, max_storage_bytes: int):
    size = path.stat().st_size
    with open(path, "rb") as f:
        magic = _unpickle(f, None, f"{path} (header)")
        if magic != LEGACY_MAGIC:
            raise WeightsError(f"{path}: neither a zip checkpoint nor the legacy torch.save format "
                               f"(no magic number; files of torch < 0.1.10 are not supported)")
        protocol = _unpickle(f, None, f"{path} (header)")
        if protocol != LEGACY_PROTOCOL:
            raise WeightsError(f"{path}: legacy torch.save protocol {protocol!r}, only {LEGACY_PROTOCOL} is known")
        sys_info = _unpickle(f, None, f"{path} (header)")
        little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
        order = "<" if little else ">"
        roots: dict[str, _Storage] = {}
        views: dict[str, _Storage] = {}
        claimed = [0]

        def persistent_load(pid):
            storage_type, key, numel, view = _storage_id(pid)
            if key not in roots:
                nbytes = numel * storage_type.dtype.itemsize
                claimed[0] += nbytes
                if nbytes > max_storage_bytes or claimed[0] > size:
                    raise WeightsError(f"{path}: storage {key} claims {numel} elements, more than the file "
                                       f"holds or the {max_storage_bytes} bytes allowed")
                # Filled in place once the pickle is read (the bytes follow it).
                data = np.zeros(numel, dtype=storage_type.dtype.newbyteorder(order))
                roots[key] = _Storage(data, storage_type.name == "BFloat16Storage")
            root = roots[key]
            if root.data.dtype.newbyteorder("=") != storage_type.dtype.newbyteorder("=") or root.data.size != numel:
                raise WeightsError(f"{path}: storage {key} is used with two types or sizes")
            if view is None:
                return root
            try:
                view_key, offset, view_size = _text(view[0]), int(view[1]), int(view[2])
            except (TypeError, ValueError, IndexError):
                raise WeightsError(f"{path}: storage {key} has a malformed view {view!r}") from None
            if offset < 0 or view_size < 0 or offset + view_size > numel:
                raise WeightsError(f"{path}: storage view {view_key} lies outside storage {key}")
            if view_key not in views:
                views[view_key] = _Storage(root.data[offset:offset + view_size], root.bfloat16)
            return views[view_key]

        result = _unpickle(f, persistent_load, str(path))
        keys = _unpickle(f, None, f"{path} (storage keys)")
        if not isinstance(keys, list) or sorted(map(_text, keys)) != sorted(roots):
            raise WeightsError(f"{path}: the storage key list does not match the storages the tensors use")
        for key in map(_text, keys):
            storage = roots[key]
            header = f.read(8)
            if len(header) != 8:
                raise WeightsError(f"{path}: truncated (storage {key} is missing)")
            (count,) = struct.unpack(order + "q", header)
            if count != storage.data.size:
                raise WeightsError(f"{path}: storage {key} holds {count} elements, {storage.data.size} expected")
            target = memoryview(storage.data.view(np.uint8))
            if f.readinto(target) != len(target):
                raise WeightsError(f"{path}: truncated inside storage {key}")
    return result


def read_torch_file(path: str | Path, *, max_pickle_bytes: int = MAX_PICKLE_BYTES,
                    max_storage_bytes: int = MAX_STORAGE_BYTES):
    """The object a `torch.save` file holds, tensors as NumPy arrays (zip or legacy format).

    Only dicts, lists, tuples, plain values and tensors are rebuilt; anything else raises WeightsError.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if zipfile.is_zipfile(path):
        result = _read_zip(path, max_pickle_bytes, max_storage_bytes)
    else:
        result = _read_legacy(path, max_storage_bytes)
    return _materialize(result)


def _find_state_dict(obj, path: Path) -> dict:
    """A state dict, or one wrapped as {'state_dict': ...} / {'model': ...} by a training script."""
    if isinstance(obj, dict):
        if obj and all(isinstance(v, np.ndarray) for v in obj.values()):
            return obj
        for key in ("state_dict", "model_state_dict", "model", "net"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, np.ndarray) for v in inner.values()):
                return inner
    raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict (a dict of parameter name -> "
                       f"tensor, as torch.save(model.state_dict(), ...) writes)")


def read_state_dict(path: str | Path, **limits) -> collections.OrderedDict[str, np.ndarray]:
    """`{parameter name: array}` of a checkpoint (`torch.save(model.state_dict(), path)`), in file order.

    A state dict wrapped in `{'state_dict': ...}` (or 'model_state_dict', 'model', 'net') is unwrapped,
    and nn.DataParallel's 'module.' prefix is removed.
    """
    path = Path(path)
    state = _find_state_dict(read_torch_file(path, **limits), path)
    names = [str(k) for k in state]
    if names and all(n.startswith("module.") for n in names):
        names = [n[len("module."):] for n in names]
    return collections.OrderedDict(zip(names, state.values(), strict=True))


def is_torch_file(path: str | Path) -> bool:
    """Whether `path` is named like a PyTorch checkpoint (.pth, .pt, .pth.tar)."""
    return str(path).lower().endswith(TORCH_SUFFIXES)
