"""models/torch_checkpoint.py: PyTorch checkpoints read without PyTorch, in both container formats.

The fixtures in tests/fixtures/torch/ were written by real torch (make_fixtures.py there); the
crafted files below come from a minimal writer that pickles the same opcodes torch.save does
(a stand-in `torch` module exists only while writing). No test imports torch.
"""
from __future__ import annotations

import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models.torch_checkpoint import LEGACY_MAGIC, LEGACY_PROTOCOL, read_state_dict, read_torch_file
from models.weight_formats import WeightsError, read_weight_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torch"
FORMATS = ("zip", "legacy")


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "expected.npz") as data:
        return {k: data[k] for k in data.files}


# --- a minimal torch.save, for crafted files ----------------------------------------------------------

class _Tensor:
    """A tensor to pickle: a view (offset, size, stride) of the storage `key` (a flat numpy array)."""

    def __init__(self, key: str, storage: np.ndarray, offset: int, size: tuple, stride: tuple,
                 view: tuple | None = None):
        self.key, self.storage, self.offset, self.size, self.stride = key, storage, offset, size, stride
        self.view = view   # legacy only: (view key, offset, size) of a storage view the offset is relative to


_TYPE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float16"): "HalfStorage",
               np.dtype("int64"): "LongStorage"}


def _save(obj, path: Path, *, legacy: bool, byteorder: str = "little", storage_numel: dict | None = None,
          folder: str = "archive", rebuild: str = "_rebuild_tensor_v2") -> Path:
    """Write `obj` (dicts of _Tensor) as torch.save does; `storage_numel` overrides a storage's claimed size.

    rebuild="_rebuild_tensor": the 4-argument form of torch < 0.4 (the 2017 torchvision files).
    """
    fake_torch = types.ModuleType("torch")
    fake_utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):   # never called: only its name is pickled
        raise AssertionError

    setattr(fake_utils, rebuild, _rebuild_tensor_v2)
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", rebuild
    for name in set(_TYPE_NAMES.values()):
        setattr(fake_torch, name, type(name, (), {"__module__": "torch"}))
    fake_torch._utils = fake_utils
    storages: dict[str, np.ndarray] = {}

    class _Marker:
        def __init__(self, tensor):
            self.tensor = tensor

        def __reduce__(self):
            t = self.tensor
            args = (_StorageRef(t.key, t.storage, t.view), t.offset, t.size, t.stride)
            if rebuild == "_rebuild_tensor_v2":
                args += (False, collections.OrderedDict())
            return (_rebuild_tensor_v2, args)

    class _StorageRef:
        def __init__(self, key, data, view=None):
            self.key, self.data, self.view = key, data, view

    class _Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if isinstance(value, _StorageRef):
                storages[value.key] = value.data
                numel = (storage_numel or {}).get(value.key, value.data.size)
                storage_type = getattr(fake_torch, _TYPE_NAMES[value.data.dtype])
                return ("storage", storage_type, value.key, "cpu", numel) + ((value.view,) if legacy else ())
            return None

    def wrap(o):
        if isinstance(o, _Tensor):
            return _Marker(o)
        if isinstance(o, dict):
            return type(o)((k, wrap(v)) for k, v in o.items())
        return o

    fakes = {"torch": fake_torch, "torch._utils": fake_utils}
    previous = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)   # only while pickling: pickle checks a global's module by import
    try:
        body = io.BytesIO()
        _Pickler(body, protocol=2).dump(wrap(obj))
    finally:
        for name, module in previous.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    order = "<" if byteorder == "little" else ">"

    def raw(data):
        return data.astype(data.dtype.newbyteorder(order)).tobytes()

    if legacy:
        with open(path, "wb") as f:
            for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL,
                                                           "little_endian": byteorder == "little"}):
                pickle.dump(header, f, protocol=2)
            f.write(body.getvalue())
            pickle.dump(sorted(storages), f, protocol=2)
            for key in sorted(storages):
                f.write(struct.pack(order + "q", storages[key].size) + raw(storages[key]))
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(f"{folder}/data.pkl", body.getvalue())
            archive.writestr(f"{folder}/byteorder", byteorder)
            for key, data in storages.items():
                archive.writestr(f"{folder}/data/{key}", raw(data))
            archive.writestr(f"{folder}/version", "3\n")
    return path


def _dense(key: str, array: np.ndarray) -> _Tensor:
    flat = np.ascontiguousarray(array).ravel()
    strides = tuple(s // array.itemsize for s in np.ascontiguousarray(array).strides)
    return _Tensor(key, flat, 0, array.shape, strides)


# --- what real torch wrote -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_dtype_and_layout_as_torch_wrote_it(fmt, expected):
    tensors = read_torch_file(FIXTURES / f"tensors.{fmt}.pt")
    names = [k[len("tensor_"):] for k in expected if k.startswith("tensor_")]
    assert list(tensors) == names
    for name in names:
        want, got = expected[f"tensor_{name}"], tensors[name]
        assert got.shape == want.shape and got.dtype == want.dtype, name   # bfloat16 comes as float32
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert got.flags.c_contiguous and got.flags.writeable
    assert tensors["bfloat16"].dtype == np.float32 and tensors["float16"].dtype == np.float16


@pytest.mark.parametrize("fmt", FORMATS)
def test_torchvision_state_dict_names_order_and_shapes(fmt, tmp_path):
    import lzma

    path = tmp_path / "squeezenet.pth"
    path.write_bytes(lzma.decompress((FIXTURES / f"squeezenet1_1_random.{fmt}.pth.xz").read_bytes()))
    state = read_state_dict(path)
    shapes = json.loads((FIXTURES / "torchvision_state_dicts.json").read_text())["squeezenet1_1"]
    assert [(k, list(v.shape)) for k, v in state.items()] == list(shapes.items())
    assert state["features.0.weight"].dtype == (np.float16 if fmt == "legacy" else np.float32)


def test_same_weights_in_both_formats(tmp_path):
    import lzma

    states = {}
    for fmt in FORMATS:
        path = tmp_path / f"{fmt}.pth"
        path.write_bytes(lzma.decompress((FIXTURES / f"squeezenet1_1_random.{fmt}.pth.xz").read_bytes()))
        states[fmt] = read_state_dict(path)
    for key, value in states["zip"].items():
        np.testing.assert_array_equal(states["legacy"][key].astype(np.float32), value, err_msg=key)


# --- crafted files ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_written_tensors_come_back(tmp_path, fmt, byteorder):
    base = np.arange(20, dtype=np.float32) * 0.5
    state = collections.OrderedDict()
    state["a"] = _Tensor("0", base, 2, (3, 4), (1, 3))                # a transposed view at an offset
    state["b"] = _dense("1", np.arange(-3, 3, dtype=np.int64).reshape(2, 3))
    state["c"] = _dense("2", np.linspace(-1, 1, 5).astype(np.float16))
    out = read_torch_file(_save(state, tmp_path / "x.pt", legacy=fmt == "legacy", byteorder=byteorder))
    np.testing.assert_array_equal(out["a"], np.lib.stride_tricks.as_strided(base[2:], (3, 4), (4, 12)))
    np.testing.assert_array_equal(out["b"], np.arange(-3, 3).reshape(2, 3))
    np.testing.assert_array_equal(out["c"], np.linspace(-1, 1, 5).astype(np.float16))
    assert out["b"].dtype == np.int64 and out["a"].dtype.byteorder in "=|"


def test_torch_0_3_legacy_tensors_and_storage_views(tmp_path):
    """The 2017 files: _rebuild_tensor(storage, offset, size, stride), storages that are views of a root."""
    root = np.arange(12, dtype=np.float32)
    state = collections.OrderedDict()
    state["whole"] = _Tensor("7", root, 0, (3, 4), (4, 1))
    state["view"] = _Tensor("7", root, 1, (2, 2), (1, 2), view=("8", 4, 6))   # root[4:10], then offset 1
    out = read_torch_file(_save(state, tmp_path / "old.pth", legacy=True, rebuild="_rebuild_tensor"))
    np.testing.assert_array_equal(out["whole"], root.reshape(3, 4))
    np.testing.assert_array_equal(out["view"], [[5, 7], [6, 8]])
    state["bad"] = _Tensor("7", root, 0, (2,), (1,), view=("9", 8, 6))   # root[8:14] of 12
    with pytest.raises(WeightsError, match="storage view 9 lies outside storage 7"):
        read_torch_file(_save(state, tmp_path / "bad.pth", legacy=True, rebuild="_rebuild_tensor"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrapped_state_dict_and_data_parallel_prefix(tmp_path, fmt):
    inner = collections.OrderedDict([("module.features.0.weight", _dense("0", np.ones((2, 3), np.float32))),
                                     ("module.features.0.bias", _dense("1", np.zeros(2, np.float32)))])
    path = _save({"epoch": 3, "state_dict": inner, "best": 0.5}, tmp_path / "ckpt.pth.tar", legacy=fmt == "legacy")
    assert list(read_state_dict(path)) == ["features.0.weight", "features.0.bias"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_view_outside_its_storage_is_refused(tmp_path, fmt):
    state = {"w": _Tensor("0", np.zeros(6, np.float32), 2, (2, 3), (3, 1))}   # needs element 7 of 6
    with pytest.raises(WeightsError, match="reaches element 7 of a storage of 6"):
        read_torch_file(_save(state, tmp_path / "x.pt", legacy=fmt == "legacy"))


def test_zip_storage_shorter_than_claimed_is_refused(tmp_path):
    state = {"w": _dense("0", np.zeros(4, np.float32))}
    with pytest.raises(WeightsError, match="storage 0 has 16 bytes, 5 x 4 are needed"):
        read_torch_file(_save(state, tmp_path / "x.pt", legacy=False, storage_numel={"0": 5}))


def test_legacy_storage_larger_than_the_file_is_refused(tmp_path):
    state = {"w": _dense("0", np.zeros(4, np.float32))}
    with pytest.raises(WeightsError, match="claims 1000000000 elements"):
        read_torch_file(_save(state, tmp_path / "x.pt", legacy=True, storage_numel={"0": 10 ** 9}))


def test_size_limits(tmp_path):
    path = FIXTURES / "tensors.zip.pt"
    with pytest.raises(WeightsError, match="more than the 64 allowed"):
        read_torch_file(path, max_storage_bytes=64)
    with pytest.raises(WeightsError, match="data.pkl is .* bytes, more than the 100 allowed"):
        read_torch_file(path, max_pickle_bytes=100)
    with pytest.raises(WeightsError, match="more than the file holds or the 64 bytes allowed"):
        read_torch_file(FIXTURES / "tensors.legacy.pt", max_storage_bytes=64)


def test_truncated_legacy_file(tmp_path):
    data = (FIXTURES / "tensors.legacy.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[:-10])
    with pytest.raises(WeightsError, match="truncated") as info:
        read_torch_file(path)
    assert "\n" not in str(info.value)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "text.pth").write_bytes(b"hello world")
    with pytest.raises(WeightsError, match="damaged pickle|neither a zip checkpoint"):
        read_torch_file(tmp_path / "text.pth")
    with zipfile.ZipFile(tmp_path / "script.pt", "w") as archive:     # TorchScript-like
        archive.writestr("m/constants.pkl", b"")
        archive.writestr("m/code/m.py", "")
    with pytest.raises(WeightsError, match="not a torch.save checkpoint .*TorchScript"):
        read_torch_file(tmp_path / "script.pt")
    with pytest.raises(WeightsError, match="does not exist"):
        read_torch_file(tmp_path / "absent.pth")
    with pytest.raises(WeightsError, match="a PyTorch checkpoint; .*build_model"):
        read_weight_file(FIXTURES / "tensors.zip.pt")


def test_storage_key_cannot_leave_the_archive(tmp_path):
    state = {"w": _dense("../../etc/passwd", np.zeros(2, np.float32))}
    with pytest.raises(WeightsError, match="invalid storage key"):
        read_torch_file(_save(state, tmp_path / "x.pt", legacy=False))


# --- malicious pickles ---------------------------------------------------------------------------------

def _exploit(marker: Path):
    class Exploit:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    return Exploit()


@pytest.mark.parametrize("where", ["zip", "legacy", "legacy header", "legacy storage keys"])
def test_malicious_pickle_is_refused(tmp_path, where):
    """A checkpoint whose pickle would run a command is rejected before anything runs."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"features.0.weight": _exploit(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if where == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("evil/data.pkl", payload)
            archive.writestr("evil/byteorder", "little")
    else:
        parts = [pickle.dumps(LEGACY_MAGIC, protocol=2), pickle.dumps(LEGACY_PROTOCOL, protocol=2),
                 pickle.dumps({"little_endian": True}, protocol=2), pickle.dumps({}, protocol=2),
                 pickle.dumps([], protocol=2)]
        index = {"legacy": 3, "legacy header": 2, "legacy storage keys": 4}[where]
        parts[index] = pickle.dumps(_exploit(marker), protocol=2)
        path.write_bytes(b"".join(parts))
    with pytest.raises(WeightsError, match=r"refusing to load (posix|os)\.system") as info:
        read_torch_file(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_pickled_module_is_refused(tmp_path, fmt):
    """torch.save(model) pickles the module's class by reference: refused, with what to save instead."""
    class _Pickler(pickle.Pickler):
        def persistent_id(self, value):
            return ("module", "MyNet", "net.py", "source") if value == "MODULE" else None

    body = io.BytesIO()
    _Pickler(body, protocol=2).dump({"net": "MODULE"})
    path = tmp_path / "model.pth"
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model/data.pkl", body.getvalue())
    else:
        head = b"".join(pickle.dumps(v, protocol=2) for v in (LEGACY_MAGIC, LEGACY_PROTOCOL, {}))
        path.write_bytes(head + body.getvalue() + pickle.dumps([], protocol=2))
    with pytest.raises(WeightsError, match="persistent id of kind 'module'.*state_dict"):
        read_torch_file(path)


def test_full_model_classes_are_refused(tmp_path):
    """Any global besides the state dict's few (here a torch.nn class) is refused by name."""
    body = b"\x80\x02ctorch.nn.modules.conv\nConv2d\nq\x00)\x81q\x01."
    path = tmp_path / "m.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("m/data.pkl", body)
    with pytest.raises(WeightsError, match="refusing to load torch.nn.modules.conv.Conv2d"):
        read_torch_file(path)
