"""autoencoder.py end to end on tiny settings: bundled digits, Fashion-MNIST files in the real format, offline."""
from __future__ import annotations

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import autoencoder as cli
from models.autoencoder import build_autoencoder
from tests.digit_files import fashion_files
from tests.loopback_server import serve
from utilities.autoencoder import data as ae_data
from utilities.digits import fashion_mnist, load_image_set
from utilities.digits.keras_files import FASHION_FILES

TINY = ["--epochs", "2", "--filters", "4,8", "--batch-size", "64", "--samples", "60", "--no-progress"]
OUTPUTS = {"summary.txt", "history.csv", "losses.png", "reconstructions.png", "latent_vs_pca.png",
           "comparison.csv", "autoencoder.weights.h5", "checkpoints", ".lock"}  # .lock: the run folder's (released)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _tags(folder: Path) -> dict[str, list[str]]:
    acc = EventAccumulator(str(folder), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    return acc.Tags()


def _codes(weights: Path, images: np.ndarray) -> np.ndarray:
    net = build_autoencoder(filters=(4, 8))
    net.autoencoder.load_weights(weights)
    return np.asarray(net.encoder(images))


def test_denoising_run_on_digits_writes_everything_and_repeats_for_a_seed(tmp_path, capsys):
    common = ["--dataset", "digits", "--denoise", "--clip", "--results-dir", str(tmp_path / "results"),
              "--logdir", str(tmp_path / "logs"), *TINY]
    assert cli.main(common) == 0
    out = capsys.readouterr().out
    run = tmp_path / "results" / "dcae_digits"
    assert {p.name for p in run.iterdir()} == OUTPUTS
    assert "enc_conv1" in out and "dec_conv1" in out and "Total params" in out  # the model summary
    assert "epoch 2/2" in out and "test loss" in out and "k-NN acc" in out
    assert "enc_pool1" in (run / "summary.txt").read_text()
    assert {"run.json", "checkpoint", "ckpt-2.index"} <= {p.name for p in (run / "checkpoints").iterdir()}
    history = _rows(run / "history.csv")
    assert [r["epoch"] for r in history] == ["1", "2"]
    assert all(0 < float(r[k]) < 1 for r in history for k in ("train_bce", "test_bce", "train_mse", "test_mse"))
    table = _rows(run / "comparison.csv")
    assert [(r["method"], r["inputs"], r["latent_dim"]) for r in table] == [
        ("CAE", "clean", "2"), ("PCA", "clean", "2"), ("CAE", "noisy", "2"), ("PCA", "noisy", "2")]
    for r in table:
        assert 0 <= float(r["knn_accuracy"]) <= 1 and -1 <= float(r["silhouette"]) <= 1 and float(r["bce"]) > 0
    logs = tmp_path / "logs" / "dcae_digits"
    assert "epoch_loss" in _tags(logs / "train")["scalars"] + _tags(logs / "train")["tensors"]
    assert "epoch_loss" in _tags(logs / "validation")["scalars"] + _tags(logs / "validation")["tensors"]
    images = _tags(logs / "reconstructions")
    assert "reconstructions" in images["images"] + images["tensors"]

    # the same flags and seed again: the same numbers and the same weights
    assert cli.main([*common, "--run-name", "again"]) == 0
    again = tmp_path / "results" / "again"
    for name in ("history.csv", "comparison.csv"):
        a, b = _rows(run / name), _rows(again / name)
        for ra, rb in zip(a, b, strict=True):
            for key, value in ra.items():
                assert value == rb[key] or float(value) == pytest.approx(float(rb[key]), rel=1e-3, abs=1e-4), name
    x = load_image_set("digits").x_test[:20]
    codes = _codes(run / "autoencoder.weights.h5", x)
    assert codes.shape == (20, 2)
    np.testing.assert_allclose(_codes(again / "autoencoder.weights.h5", x), codes, rtol=1e-3, atol=1e-4)


def test_the_seed_sets_the_initial_weights():
    codes = []
    for seed in (0, 0, 1):
        keras.utils.set_random_seed(seed)
        codes.append(np.asarray(build_autoencoder(filters=(4, 8)).encoder(np.ones((2, 28, 28, 1), np.float32))))
    np.testing.assert_array_equal(codes[0], codes[1])
    assert not np.allclose(codes[0], codes[2])


def _fashion_cache(root: Path, n_train: int = 80, n_test: int = 40) -> Path:
    folder = root / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name, body in fashion_files(n_train, n_test).items():
        (folder / name).write_bytes(body)
    return root


def test_fashion_mnist_default_run_from_keras_cache(tmp_path, monkeypatch, capsys):
    """The default data set, read from files in Fashion-MNIST's real format in a KERAS_HOME cache."""
    monkeypatch.setenv("KERAS_HOME", str(_fashion_cache(tmp_path / "keras")))
    assert cli.main(["--results-dir", str(tmp_path / "results"), "--logdir", str(tmp_path / "logs"), *TINY,
                     "--latent-dim", "3", "--samples", "40"]) == 0
    run = tmp_path / "results" / "cae_fashion_mnist_z3"
    assert {p.name for p in run.iterdir()} == OUTPUTS
    assert "80 training, 40 test images" in capsys.readouterr().out
    table = _rows(run / "comparison.csv")
    assert [(r["method"], r["inputs"], r["latent_dim"]) for r in table] == [("CAE", "clean", "3"),
                                                                             ("PCA", "clean", "3")]


def test_fashion_mnist_offline_one_line_exit_2(tmp_path, monkeypatch, capsys):
    """No copy here and no network (a loopback server with nothing on it): one line naming the files' place, exit 2."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-debian-copy")  # the machine's copy out of the way
    real = ae_data.load_image_set
    with serve({}) as (base, _):
        monkeypatch.setattr(ae_data, "load_image_set", lambda name: real(name, base_url=base + "/", progress=False))
        code = cli.main(["--results-dir", str(tmp_path / "results"), *TINY])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    folder = tmp_path / "keras" / "datasets" / "fashion-mnist"
    assert f"put {', '.join(FASHION_FILES)} in {folder}" in err  # all four files and where they go
    assert "--dataset digits" in err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.png"))
