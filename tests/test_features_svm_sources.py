"""features_svm's real 28x28 sets as lists (issue 22 item 4), the raw-pixel baseline, VGG19 and every
network the project builds as --model (issue 23), and --test-per-class."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import features_svm
import models
from tests.features_svm_data import write_digits_lists
from utilities.digits import ImageSet
from utilities.features_svm import experiment, image_sets, sources
from utilities.features_svm.errors import FeaturesSvmError
from utilities.features_svm.layers import resolve_tap
from utilities.wikiart.dataset import read_image_list


def fake_set(name: str = "fashion_mnist", train_per_class: int = 6, test_per_class: int = 4) -> ImageSet:
    """A 3-class set of 28x28 images whose pixels encode (split, index): every file can be traced back."""
    def split(count, offset):
        labels = np.repeat(np.arange(3), count)
        images = np.zeros((len(labels), 28, 28, 1), np.float32)
        for i in range(len(labels)):
            images[i, 0, 0, 0] = (offset + i) / 255.0
            images[i, 5:20, 5:20, 0] = (40 + 60 * labels[i]) / 255.0
        return images, labels

    x_train, y_train = split(train_per_class, 0)
    x_test, y_test = split(test_per_class, 100)
    return ImageSet(name, x_train, y_train, x_test, y_test, ("a", "b", "c"), "a fake set")


def _pixels(list_file):
    image_list = read_image_list(list_file)
    return [np.asarray(Image.open(p)) for p in image_list.paths], image_list.labels


def test_export_draws_per_class_from_each_split_and_reuses_its_files(tmp_path):
    loads = []

    def load(name, progress):
        loads.append(name)
        return fake_set(name)

    lists = image_sets.write_image_set_lists("fashion_mnist", data_dir=tmp_path, train_per_class=2, test_per_class=3,
                                             seed=0, load=load)
    train, train_labels = _pixels(lists.train)
    test, test_labels = _pixels(lists.test)
    assert np.bincount(train_labels).tolist() == [2, 2, 2] and np.bincount(test_labels).tolist() == [3, 3, 3]
    assert all(image.shape == (28, 28) and image.dtype == np.uint8 for image in train + test)   # 8-bit grayscale
    train_ids = [int(image[0, 0]) for image in train]
    test_ids = [int(image[0, 0]) for image in test]
    assert max(train_ids) < 100 <= min(test_ids)          # training images from the training split only
    assert len(set(train_ids)) == 6 and len(set(test_ids)) == 9
    for image, label, index in zip(train, train_labels, train_ids, strict=True):   # labels follow their images
        assert index // 6 == label and int(image[10, 10]) == 40 + 60 * label
    assert lists.class_names == ("a", "b", "c") and "2 per class" in lists.source and "a fake set" in lists.source
    assert lists.train.parent.name.startswith("train2-test3-seed0-")

    # the same selection again: the same files, not rewritten (the feature cache keys on their mtimes)
    stamps = {p: p.stat().st_mtime_ns for p in lists.train.parent.rglob("*.png")}
    again = image_sets.write_image_set_lists("fashion_mnist", data_dir=tmp_path, train_per_class=2,
                                             test_per_class=3, seed=0, load=load)
    assert again == lists and {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # another seed draws other images into another folder; the first stays
    other = image_sets.write_image_set_lists("fashion_mnist", data_dir=tmp_path, train_per_class=2,
                                             test_per_class=3, seed=1, load=load)
    assert other.train.parent != lists.train.parent and lists.train.is_file()
    assert [int(i[0, 0]) for i in _pixels(other.train)[0]] != train_ids
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]    # no temporary folder left


def test_export_limits_and_caps(tmp_path):
    def load(name, progress):
        return fake_set(name)

    with pytest.raises(FeaturesSvmError, match=r"--train-per-class 7: class 0 has only 6 images"):
        image_sets.write_image_set_lists("mnist5k", data_dir=tmp_path, train_per_class=7, load=load)
    everything = image_sets.write_image_set_lists("mnist5k", data_dir=tmp_path, train_per_class=6,
                                                  test_per_class=None, load=load)
    assert len(read_image_list(everything.test)) == 12 and "testall" in everything.test.parent.name
    capped = image_sets.write_image_set_lists("mnist5k", data_dir=tmp_path, train_per_class=1, test_per_class=50,
                                              load=load)
    assert len(read_image_list(capped.test)) == 12   # a cap: classes with fewer keep them all


def test_load_lists_reads_the_real_sets_through_the_exporter(tmp_path, monkeypatch):
    monkeypatch.setattr(image_sets, "_load", lambda name, progress: fake_set(name))
    lists = sources.load_lists("fashion_mnist", data_dir=tmp_path, train_per_class=2, test_per_class=1, seed=3)
    assert (lists.name, len(lists.train), len(lists.test), lists.class_names) == ("fashion_mnist", 6, 3,
                                                                                   ("a", "b", "c"))
    assert "fashion_mnist: 6 training images (2 per class" in lists.source


def test_the_loaders_unavailable_data_is_one_line(tmp_path, monkeypatch):
    from utilities.digits import DatasetUnavailable

    def unavailable(name, **kwargs):
        raise DatasetUnavailable("Fashion-MNIST: not here; apt-get install dataset-fashion-mnist")

    monkeypatch.setattr("utilities.digits.load_image_set", unavailable)
    with pytest.raises(FeaturesSvmError, match=r"^--dataset fashion_mnist: Fashion-MNIST: not here; apt-get"):
        sources.load_lists("fashion_mnist", data_dir=tmp_path)


def test_test_per_class_caps_any_list_with_a_seeded_draw(tmp_path):
    train, test = write_digits_lists(tmp_path, train=80, test=200, size=8)
    full = sources.load_lists(None, train_list=train, test_list=test)
    capped = sources.load_lists(None, train_list=train, test_list=test, test_per_class=3, seed=0)
    assert np.bincount(capped.test.labels).tolist() == [3] * 10 and len(capped.train) == 80
    assert set(capped.test.paths) <= set(full.test.paths)
    assert list(capped.test.paths) == sorted(capped.test.paths, key=full.test.paths.index)   # list order kept
    again = sources.load_lists(None, train_list=train, test_list=test, test_per_class=3, seed=0).test
    other = sources.load_lists(None, train_list=train, test_list=test, test_per_class=3, seed=1).test
    assert again.paths == capped.test.paths and other.paths != capped.test.paths
    with pytest.raises(FeaturesSvmError, match="--test-per-class must be at least 1, got 0"):
        sources.load_lists(None, train_list=train, test_list=test, test_per_class=0)


def test_pixels_baseline_is_the_image_itself(tmp_path):
    train, test = write_digits_lists(tmp_path / "digits", train=100, test=100, size=16)
    result = experiment.run(experiment.Config(train_list=train, test_list=test, model="pixels",
                                              output_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                                              image_size=16, progress=False))
    (row,) = result.rows
    assert (row.layer, row.dim, result.network_builds) == ("pixels", 16 * 16 * 3, 0)
    assert row.test_accuracy > 0.6, row          # raw digits are linearly separable enough (measured 90%)
    (cached,) = (tmp_path / "cache").glob("lists_pixels_pixels_train-*.npz")
    features = np.load(cached)["features"]
    image = np.asarray(Image.open(read_image_list(train).paths[0]), np.float64) / 255.0
    expected = np.repeat(image[..., None], 3, axis=-1).ravel()   # 16x16 files at 16 px: no resampling
    np.testing.assert_allclose(features[0], expected / np.linalg.norm(expected), atol=1e-6)
    report = (tmp_path / "out" / "report.txt").read_text()
    assert "pixels input 16px, pooling flatten" in report and "weights" not in report.splitlines()[0]


@pytest.mark.parametrize(("argv", "message"), [
    (["--weights", "random"], "--weights random: --model pixels reads no network; drop --weights"),
    (["--layer", "fc2"], "--layer fc2: --model pixels has one descriptor, 'pixels'"),
    (["--summary"], "--summary and --activation-maps need a network; --model pixels has none"),
])
def test_pixels_refuses_network_flags_before_any_work(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sources, "load_lists", lambda *a, **k: pytest.fail("data read before the flags were checked"))
    assert features_svm.main(["--model", "pixels", *argv, "--output-dir", str(tmp_path), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


@pytest.mark.parametrize(("argv", "message"), [
    (["--dataset", "fashion_mnist", "--test-per-class", "0"], "--test-per-class must be at least 1, got 0"),
    (["--dataset", "mnist5k", "--train-per-class", "0"], "--train-per-class must be at least 1, got 0"),
])
def test_per_class_counts_are_checked_before_any_data_is_read(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(image_sets, "_load", lambda *a, **k: pytest.fail("data read before the flags were checked"))
    assert features_svm.main([*argv, "--weights", "random", "--output-dir", str(tmp_path), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


@pytest.fixture(scope="module")
def vgg19():
    import keras

    keras.utils.set_random_seed(0)
    return models.build_model("vgg19", weights="random")


def test_vgg19_is_offered_with_the_handouts_layers(vgg19, tmp_path, monkeypatch):
    assert "vgg19" in features_svm.build_parser().parse_args(["--model", "vgg19"]).model
    config = experiment.with_model_defaults(experiment.Config(model="vgg19"))
    assert (tuple(config.layers), config.pooling) == (("relu7",), "flatten")
    assert [resolve_tap(vgg19, r).layer for r in ("relu7", "relu6", "pool5", "-7", "block5_conv4")] == [
        "fc2", "fc1", "block5_pool", "flatten", "block5_conv4"]
    built = []
    monkeypatch.setattr(models, "build_model", lambda name, weights=None, **kw: built.append(name) or vgg19)
    train, test = write_digits_lists(tmp_path / "digits", train=40, test=20, size=16)
    assert features_svm.main(["--train-list", str(train), "--test-list", str(test), "--model", "vgg19",
                              "--weights", "random", "--layer", "block2_pool", "--image-size", "16",
                              "--pooling", "avg", "--output-dir", str(tmp_path / "out"), "--no-progress"]) == 0
    assert built == ["vgg19"]
    assert "vgg19 weights random" in (tmp_path / "out" / "report.txt").read_text()


def test_compare_draws_layers_against_a_one_layer_baseline(tmp_path, capsys):
    from utilities.features_svm import compare, report

    def run(folder, layers_accuracy, reduction_row=False):
        rows = []
        for layer, accuracy in layers_accuracy.items():
            for C, chosen in ((0.1, False), (1.0, True)):
                rows.append(report.SweepRow(layer, layer, 8, "linear-svm", C, 0.5, 1.0, accuracy if chosen else 0.2,
                                            chosen))
        if reduction_row:
            rows.append(report.SweepRow("fire9_concat", "x", 8, "linear-svm", 1.0, 0.5, 1.0, 0.01, True,
                                        reduction="pca:4"))
        (tmp_path / folder).mkdir()
        report.write_sweep_csv(rows, tmp_path / folder / "sweep.csv")
        return str(tmp_path / folder)

    pre = run("pre", {"conv1": 0.5, "fire9_concat": 0.8}, reduction_row=True)
    rnd = run("rnd", {"conv1": 0.4, "fire9_concat": 0.3})
    px = run("px", {"pixels": 0.7})
    assert compare.main([str(tmp_path / "fig.png"), pre, f"{rnd}:random", f"{px}/sweep.csv:pixels"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| layer | pre | random | pixels |"
    assert table[2:] == ["| `conv1` | 50.0% (C=1) | 40.0% (C=1) |  |",
                         "| `fire9_concat` | 80.0% (C=1) | 30.0% (C=1) |  |",
                         "| `pixels` |  |  | 70.0% (C=1) |"]
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert compare.main([str(tmp_path / "f2.png"), pre, "--C", "0.1"]) == 0
    assert "20.0% (C=0.1)" in capsys.readouterr().out
    assert compare.main([str(tmp_path / "f3.png"), str(tmp_path / "nothing")]) == 2
    assert "no sweep.csv there" in capsys.readouterr().err
