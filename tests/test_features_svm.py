"""features_svm: layer taps, extraction = the model's own layer output, L2 norms, learning on real
digits, the cache skipping the network, grayscale, and one-line errors for bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import models
from tests.features_svm_data import digit_images, encode, write_digits_lists, write_list
from utilities.features_svm import classifiers, experiment
from utilities.features_svm.errors import FeaturesSvmError
from utilities.features_svm.extract import FeatureExtractor
from utilities.features_svm.layers import resolve_tap, tap_model
from utilities.wikiart.dataset import read_image_list

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vgg16():
    """VGG16 with seeded random weights (Keras' initialisers), built once for the module."""
    import keras

    keras.utils.set_random_seed(0)
    return models.build_model("vgg16", weights="random")


@pytest.fixture
def counted_builds(monkeypatch, vgg16):
    """models.build_model replaced by the module's VGG16; the list records each call."""
    calls = []

    def build(name, weights=None, **kwargs):
        calls.append((name, weights))
        return vgg16

    monkeypatch.setattr(models, "build_model", build)
    return calls


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """150 + 150 scikit-learn digits as 32x32 grayscale PNGs with their lists."""
    return write_digits_lists(tmp_path_factory.mktemp("digits"), train=150, test=150, size=32)


def _config(train, test, out, **kwargs) -> experiment.Config:
    """A cheap run: block2_pool at 16x16 averaged over space (128 values per image)."""
    settings = dict(train_list=train, test_list=test, weights="random", layers=["block2_pool"], image_size=16,
                    pooling="avg", output_dir=out, progress=False)
    return experiment.Config(**{**settings, **kwargs})


def test_cli_choices_match_the_package():
    import features_svm
    from utilities.features_svm import extract, sources

    assert features_svm.CLASSIFIERS == classifiers.CLASSIFIERS
    assert features_svm.POOLINGS == extract.POOLINGS
    assert features_svm.PRECISIONS == experiment.PRECISIONS
    assert features_svm.DATASETS == sources.DATASETS


def test_layer_names_aliases_and_the_handouts_negative_indices(vgg16):
    expected = {"-1": ("fc2_dropout", False), "-2": ("fc2", False), "-3": ("fc2", True),
                "-4": ("fc1_dropout", False), "-5": ("fc1", False), "-6": ("fc1", True), "-7": ("flatten", False),
                "relu7": ("fc2", False), "relu6": ("fc1", False), "pool5": ("block5_pool", False),
                "block4_conv3": ("block4_conv3", False)}
    for request, (layer, pre) in expected.items():
        tap = resolve_tap(vgg16, request)
        assert (tap.layer, tap.pre_activation) == (layer, pre), request
    for bad in ("fc9", "-8", "-0"):
        with pytest.raises(ValueError) as info:
            resolve_tap(vgg16, bad)
        assert "block5_pool" in str(info.value) and "-1..-7" in str(info.value)


def test_features_are_the_layers_output_l2_normalised(tmp_path, vgg16):
    """Through files, tf.data and the traced step: the same numbers as the model's own fc2 (relu7),
    its pre-ReLU value, and a conv layer read at a smaller input, each row of unit norm."""
    import keras
    from skimage import data

    from utilities.wikiart.decode import decode_rgb, resize_uint8

    photos = {"astronaut": data.astronaut(), "camera": data.camera()}
    items = []
    for name, photo in photos.items():
        (tmp_path / f"{name}.png").write_bytes(encode(photo[::4, ::4], "png"))
        items.append((f"{name}.png", len(items)))
    image_list = read_image_list(write_list(tmp_path / "list.txt", items))
    preprocess = models.get_spec("vgg16").preprocess

    def inputs(size):
        return np.stack([preprocess(resize_uint8(decode_rgb(open(p, "rb").read()), size).numpy().astype(np.float32))
                         for p in image_list.paths])

    x224 = inputs(224)
    reference = keras.Model(vgg16.inputs, [vgg16.get_layer("fc1").output, vgg16.get_layer("fc2").output])
    fc1, fc2 = (np.asarray(t) for t in reference(x224))
    fc2_kernel, fc2_bias = (np.asarray(v) for v in vgg16.get_layer("fc2").weights)
    x64 = inputs(64)
    cases = {"relu7": (224, fc2), "-3": (224, fc1 @ fc2_kernel + fc2_bias)}
    for request, (size, expected) in cases.items():
        extractor = FeatureExtractor(tap_model(vgg16, resolve_tap(vgg16, request), size), preprocess, size,
                                     batch_size=1)
        got = extractor.extract(image_list, progress=False)
        want = expected.reshape(len(expected), -1)
        want = want / np.linalg.norm(want, axis=1, keepdims=True)
        assert got.valid.all() and got.features.shape == want.shape
        np.testing.assert_allclose(got.features, want, atol=2e-5)
        np.testing.assert_allclose(np.linalg.norm(got.features, axis=1), 1.0, atol=1e-5)
        assert extractor.batches == 2
    small = FeatureExtractor(tap_model(vgg16, resolve_tap(vgg16, "block3_pool"), 64), preprocess, 64, pooling="avg")
    got = small.extract(image_list, progress=False).features
    y = x64  # the same layer objects called eagerly on the 64x64 batch
    for layer in vgg16.layers[1:]:
        y = np.asarray(layer(y))
        if layer.name == "block3_pool":
            break
    want = y.mean(axis=(1, 2))
    np.testing.assert_allclose(got, want / np.linalg.norm(want, axis=1, keepdims=True), atol=2e-5)


def test_grayscale_images_become_three_equal_channels(tmp_path, vgg16):
    images, labels = digit_images(24, 4)
    gray, rgb = [], []
    for i, image in enumerate(images):
        (tmp_path / f"g{i}.png").write_bytes(encode(image, "png"))
        (tmp_path / f"c{i}.jpg").write_bytes(encode(np.repeat(image[..., None], 3, axis=2), "jpeg"))
        (tmp_path / f"g{i}.jpg").write_bytes(encode(image, "jpeg"))
        gray.append((f"g{i}.png", int(labels[i])))
        rgb.append((f"g{i}.jpg", int(labels[i])))
    preprocess = models.get_spec("vgg16").preprocess
    extractor = FeatureExtractor(tap_model(vgg16, resolve_tap(vgg16, "block1_pool"), 24), preprocess, 24)
    a = extractor.extract(read_image_list(write_list(tmp_path / "gray.txt", gray)), progress=False)
    b = extractor.extract(read_image_list(write_list(tmp_path / "rgb.txt", rgb)), progress=False)
    assert a.valid.all() and b.valid.all() and a.features.shape[1] == 12 * 12 * 64
    assert not np.allclose(a.features[0], a.features[1])
    # PNG grayscale vs grayscale JPEG of the same pixels: JPEG rounding only
    assert np.max(np.abs(a.features - b.features)) < 0.05


def test_linear_svm_learns_digits_far_above_chance(digits, vgg16, counted_builds, tmp_path):
    """Real data: scikit-learn's handwritten digits, 10 classes (chance 10%), through a seeded
    random-weight VGG16 read at block3_pool (4x4x256) with 32x32 inputs; LinearSVC(C=1)."""
    train, test = digits
    result = experiment.run(_config(train, test, tmp_path, layers=["block3_pool"], image_size=32, pooling="flatten"))
    (row,) = result.rows
    assert (row.layer, row.dim, row.C, row.classifier) == ("block3_pool", 4096, 1.0, "linear-svm")
    assert row.test_accuracy > 0.6, row
    assert result.results[0].per_class.shape == (10,)
    for name in ("sweep.csv", "sweep.png", "confusion_block3_pool.png", "per_class_block3_pool.csv", "report.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    lines = (tmp_path / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("layer,description,dim,classifier,C,cv_accuracy") and len(lines) == 2


def test_cache_hit_skips_the_network_and_content_changes_miss(digits, counted_builds, tmp_path):
    train, test = digits
    first = experiment.run(_config(train, test, tmp_path, C=[1.0]))
    assert first.network_builds == 1 and len(counted_builds) == 1
    cached = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 2 and not list((tmp_path / "cache").glob(".*"))
    second = experiment.run(_config(train, test, tmp_path, C=[0.1, 1.0, 10.0], cv_folds=3, classifier="logreg"))
    assert second.network_builds == 0 and len(counted_builds) == 1, "a cache hit builds no network"
    assert [r.C for r in second.rows] == [0.1, 1.0, 10.0]
    assert sum(r.chosen for r in second.rows) == 1 and all(r.cv_accuracy is not None for r in second.rows)
    same = experiment.run(_config(train, test, tmp_path, C=[1.0]))
    assert same.rows[0].test_accuracy == first.rows[0].test_accuracy and len(counted_builds) == 1
    edited = tmp_path / "train_edited.txt"
    lines = Path(train).read_text().splitlines()
    edited.write_text("\n".join(lines[:-1]) + "\n")
    (Path(train).parent / edited.name).write_text(edited.read_text())
    experiment.run(_config(Path(train).parent / edited.name, test, tmp_path))
    assert len(counted_builds) == 2, "another image list misses the cache"
    experiment.run(_config(train, test, tmp_path, pooling="max"))
    assert len(counted_builds) == 3, "another pooling misses the cache"


def test_dense_head_learns_and_agrees_with_logistic_regression():
    """The handout's "new dense layer" is multinomial logistic regression trained by Adam: on
    the digits' pixels it reaches the same predictions as scikit-learn's lbfgs for the same C."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    head = classifiers.make_classifier("finetune-head", 10.0)
    logreg = classifiers.make_classifier("logreg", 10.0)
    head.fit(x[:600], y[:600])
    logreg.fit(x[:600], y[:600])
    a, b = head.predict(x[600:]), logreg.predict(x[600:])
    assert np.mean(a == y[600:]) > 0.85
    assert np.mean(a == b) > 0.95


def _main(argv, capsys) -> tuple[int, str]:
    import features_svm

    code = features_svm.main(argv)
    return code, capsys.readouterr().err.strip()


def test_bad_inputs_give_one_line_and_exit_2(digits, counted_builds, tmp_path, capsys):
    train, test = (str(p) for p in digits)
    common = ["--weights", "random", "--output-dir", str(tmp_path), "--no-progress"]
    gap = tmp_path / "gap.txt"
    gap.write_text("".join(f"{Path(train).parent / 'images' / f'{i:05d}.png'} {label}\n"
                           for i, label in enumerate([0, 2, 0, 2])))
    cases = [
        (["--train-list", str(tmp_path / "missing.txt"), "--test-list", test], "--train-list"),
        (["--train-list", train], "go together"),
        (["--train-list", train, "--test-list", test, "--layer", "fc9"], "block5_pool"),
        (["--train-list", train, "--test-list", test, "--layer", "fc2", "--image-size", "32"], "after flatten"),
        (["--train-list", str(gap), "--test-list", test], "no training image for class(es) 1"),
        (["--train-list", train, "--test-list", test, "--C", "0"], "--C"),
        (["--train-list", train, "--test-list", test, "--weights", str(tmp_path / "none.npy")], "no such file"),
        (["--train-list", train, "--test-list", test, "--cv-folds", "1"], "--cv-folds"),
    ]
    for argv, needle in cases:
        extra = [] if "--weights" in argv else common
        code, err = _main([*argv, *extra, "--output-dir", str(tmp_path), "--no-progress"], capsys)
        assert code == 2, (argv, err)
        assert needle in err and err.startswith("error: ") and "\n" not in err, (argv, err)
    assert all(weights == "random" for _, weights in counted_builds)


def test_the_command_fails_cleanly_in_a_fresh_process(tmp_path):
    result = subprocess.run([sys.executable, "features_svm.py", "--train-list", str(tmp_path / "a.txt"),
                             "--test-list", str(tmp_path / "b.txt"), "--output-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "--train-list" in result.stderr and "a.txt" in result.stderr


def test_parameter_counts_and_conv1_maps(vgg16, counted_builds, digits, tmp_path):
    from skimage import data

    from utilities.features_svm.model_facts import format_counts, parameter_counts

    counts = parameter_counts(vgg16)
    assert counts.total == 138_357_544
    assert counts.of_type("fc") == 102_764_544 + 16_781_312 + 4_097_000
    assert "fully connected 123,642,856 (89.4%)" in format_counts(counts)
    photo = tmp_path / "chelsea.png"
    photo.write_bytes(encode(data.chelsea(), "png"))
    train, test = digits
    result = experiment.run(_config(train, test, tmp_path, summary=True, activation_maps=photo))
    assert "fully connected 123,642,856" in result.report
    assert (tmp_path / "block1_conv1_chelsea.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_default_layer_relu7_learns_at_224(tmp_path, counted_builds):
    """The handout's setting end to end: fc2 (relu7) at 224x224, LinearSVC(C=1), 6 digits per class
    for training and 6 for testing, through the real files and cache; a seeded random-weight VGG16
    reaches 50% here (chance 10%)."""
    train, test = write_digits_lists(tmp_path / "d", train=60, test=60, size=32)
    result = experiment.run(experiment.Config(train_list=train, test_list=test, weights="random", output_dir=tmp_path,
                                              progress=False))
    (row,) = result.rows
    assert (row.layer, row.dim, row.description) == ("fc2", 4096, "relu7 = fc2")
    assert row.test_accuracy >= 0.3, row
    assert (tmp_path / "confusion_fc2.png").is_file()


def test_wikiart_uses_assignment_3as_lists(monkeypatch, digits, tmp_path):
    from utilities.features_svm import sources
    from utilities.wikiart.styles import STYLE_NAMES

    train, test = digits  # ten classes, like the ten WikiArt styles
    monkeypatch.setattr(sources, "WIKIART_TRAIN", train)
    monkeypatch.setattr(sources, "WIKIART_TEST", test)
    lists = sources.load_lists("wikiart")
    assert lists.class_names == tuple(STYLE_NAMES) and len(lists.train) == 150
    monkeypatch.setattr(sources, "WIKIART_TRAIN", tmp_path / "train.txt")
    with pytest.raises(FeaturesSvmError, match="download_wikiart.py"):
        sources.load_lists("wikiart")
