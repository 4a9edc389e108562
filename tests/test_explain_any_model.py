"""Issue 28, the explanation programs: `--model NAME|FILE.keras`, `--preprocess`, `--class-names`.

The user's own model is a small CNN trained here for a few seconds on real Fashion-MNIST (the Debian
package's files; tests/keras_fashion_model.py's architecture: one gray input channel, a softmax head),
saved with `model.save`, and explained through `assignment_3b.py FOLDER --model m.keras --preprocess
unit` with every registered method. Its maps are checked against the formulas computed here by hand
with a GradientTape on the model read from the file; its predictions on 30 real test images must be
mostly right, and the same architecture saved untrained must fail that check.
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import assignment_3b
import models
from utilities.explain import model_args, single
from utilities.explain.synthesis import class_visualisation, fooling, sweep

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = 6000
EPOCHS = 2
PER_CLASS = 3          # real test images per class explained (30 in all)
# Measured on the 30 images below (seed 0): trained 0.77, untrained 0.20; Grad-CAM of the top-1 class
# non-zero on 18 of the 30.
MIN_TRAINED_ACCURACY = 0.6
MAX_UNTRAINED_ACCURACY = 0.35


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """(folder of 30 real test PNGs, their labels, trained .keras, untrained .keras, classes.txt, names)."""
    from tests.keras_fashion_model import fashion_cnn
    from tests.real_datasets import real_fashion_mnist

    data = real_fashion_mnist()
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    train = rng.choice(len(data.x_train), TRAIN_IMAGES, replace=False)
    model = fashion_cnn(0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data.x_train[train], data.y_train[train], epochs=EPOCHS, batch_size=64, verbose=0)
    model.save(root / "fashion.keras")
    fashion_cnn(1).save(root / "untrained.keras")
    names = tuple(data.class_names)
    (root / "classes.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    folder = root / "images"
    folder.mkdir()
    labels = {}
    for label in range(len(names)):
        for k, index in enumerate(np.flatnonzero(data.y_test == label)[:PER_CLASS]):
            name = f"{label}_{k}.png"
            cv2.imwrite(str(folder / name), np.round(data.x_test[index, ..., 0] * 255).astype(np.uint8))
            labels[name] = label
    return folder, labels, root / "fashion.keras", root / "untrained.keras", root / "classes.txt", names


def _accuracy(path: Path, folder: Path, labels: dict) -> float:
    """Top-1 accuracy of a .keras model on the folder, fed the programs' way (loader, preprocessing)."""
    from utilities.explain.images import load_image
    loaded = models.load_keras_model(path, preprocessing="unit")
    images = np.stack([load_image(folder / n, loaded.spec.input_size).network_input for n in labels])
    logits = loaded.model(loaded.spec.preprocess(images * 255.0)).numpy()
    return float(np.mean(np.argmax(logits, axis=1) == np.array(list(labels.values()))))


# ------------------------------------------------------------------------------ the flags


def test_flag_lists_agree_with_the_registry():
    import assignment_3b as program

    for name in models.ALL_MODEL_NAMES:
        assert model_args.GRADCAM_LAYERS[name] == models.get_spec(name).gradcam_layer, name
    assert model_args.ALL_MODEL_NAMES == models.ALL_MODEL_NAMES
    assert model_args.MODEL_NAMES == models.MODEL_NAMES == program.MODEL_NAMES
    assert model_args.PREPROCESSING_MODES == tuple(models.PREPROCESSING_MODES)
    for value in ("vgg16", "resnet50", "m.keras", "dir/model", "a\\b", "nothing", str(ROOT / "README.md")):
        assert model_args.is_model_file(value) == models.is_model_file(value), value
    for parser in (program.build_parser(), single.build_parser(["gradcam"]),
                   class_visualisation.build_parser(models.ALL_MODEL_NAMES),
                   fooling.build_parser(models.ALL_MODEL_NAMES), sweep.build_parser(models.ALL_MODEL_NAMES)):
        options = {a.dest: a for a in parser._actions}
        assert options["weights"].default is None and options["class_names"].default is None
        assert tuple(options["preprocess"].choices) == model_args.PREPROCESSING_MODES
        assert "my.keras" in options["model"].choices and "mobilenet_v2" in options["model"].choices


@pytest.mark.parametrize("main", [assignment_3b.main, single.main,
                                  lambda argv: class_visualisation.main(["1", *argv[1:]]),
                                  fooling.main, lambda argv: sweep.main(["1", *argv[1:]])])
def test_an_unknown_network_is_one_line_listing_the_names(main, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["x.png", "--model", "resnet5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"argument --model: unknown network 'resnet5' (closest: resnet50); choose one of "
                            f"{', '.join(models.ALL_MODEL_NAMES)}, or give the path of a .keras model file")


def test_imagenet_synonyms_only_with_imagenet_names():
    from utilities.common.imagenet_classes import class_names
    from utilities.explain.class_lookup import ClassLookupError, resolve_class

    imagenet = class_names()
    assert resolve_class("tabby", imagenet) == 281
    own = [f"part {i}" for i in range(1000)]            # a model of 1000 outputs with its own names
    assert resolve_class("part 281", own) == 281
    with pytest.raises(ClassLookupError, match="'tabby' is not a class name"):
        resolve_class("tabby", own)


# ------------------------------------------------------------------------------ your own model


METHODS = ",".join(assignment_3b.METHOD_NAMES)


def test_own_keras_model_explained_with_every_method_equals_the_formulas(fashion, tmp_path, capsys):
    folder, labels, trained, untrained, classes_file, names = fashion
    out = tmp_path / "out"
    code = assignment_3b.main([str(folder), "--model", str(trained), "--preprocess", "unit", "--class-names",
                               str(classes_file), "--methods", METHODS, "--top-k", "2", "--save-arrays",
                               "--smoothgrad-samples", "3", "--ig-steps", "4", "--scorecam-channels", "8",
                               "--occlusion-window", "7", "--output-dir", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    # the notes, once: which layer and why, which preprocessing and why, the softmax split off
    assert printed.count(f"note: {trained}: class-map layer: conv2 (") == 1
    assert f"note: {trained}: preprocessing: unit (given by --preprocess unit)" in printed
    assert f"note: {trained}: final softmax of 'predictions' split off" in printed

    # predictions.csv names the classes of --class-names; real images: mostly right, and the same
    # architecture untrained is not
    rows = list(csv.DictReader(open(out / "predictions.csv", encoding="utf-8")))
    top1 = {r["image"]: r for r in rows if r["rank"] == "1"}
    assert set(top1) == set(labels)
    assert all(r["class_name"] == names[int(r["class_index"])] for r in rows)
    accuracy = np.mean([int(top1[n]["class_index"]) == label for n, label in labels.items()])
    assert accuracy >= MIN_TRAINED_ACCURACY
    assert _accuracy(trained, folder, labels) == accuracy
    assert _accuracy(untrained, folder, labels) <= MAX_UNTRAINED_ACCURACY
    assert f"{names[int(top1['1_0.png']['class_index'])]} " in printed      # the printed predictions too

    # every registered method wrote its map; saliency and Grad-CAM equal the formulas by hand
    loaded = models.load_keras_model(trained, preprocessing="unit")
    nonzero = 0
    for name in labels:
        stem = Path(name).stem
        arrays = np.load(out / f"{stem}.npz")
        for method in assignment_3b.METHOD_NAMES:
            assert np.all(np.isfinite(arrays[method])), (name, method)
        x = tf.constant(cv2.imread(str(folder / name), cv2.IMREAD_COLOR)[None, ..., ::-1] / 255.0, tf.float32)
        np.testing.assert_allclose(arrays["input"], loaded.spec.preprocess(x * 255.0)[0], atol=1e-6)
        assert arrays["input"].shape == (28, 28, 1)               # one gray channel, 0..1
        classes = arrays["classes"]
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = loaded.model(loaded.spec.preprocess(x * 255.0))
            top = logits[0, int(classes[0])]
        np.testing.assert_allclose(arrays["logits"], logits[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(classes, np.argsort(-logits[0].numpy())[:2])
        gradient = tape.gradient(top, x)[0].numpy()                   # d logit / d RGB [0, 1]
        np.testing.assert_allclose(arrays["saliency"], np.abs(gradient).max(axis=-1), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(arrays["gradient_x_input"], np.abs(x[0].numpy() * gradient).sum(axis=-1),
                                   rtol=1e-4, atol=1e-7)
        chain = [layer for layer in loaded.model.layers if not isinstance(layer, keras.layers.InputLayer)]
        assert [layer.name for layer in chain][:3] == ["conv1", "pool1", "conv2"]   # a chain: run it by hand
        for rank, c in enumerate(classes):
            with tf.GradientTape() as tape:
                h = loaded.spec.preprocess(x * 255.0)
                for layer in chain:
                    h = layer(h)
                    if layer.name == "conv2":
                        feature_maps = h
                score = h[0, int(c)]
            weights = tf.reduce_mean(tape.gradient(score, feature_maps)[0], axis=(0, 1))
            cam = tf.nn.relu(tf.reduce_sum(feature_maps[0] * weights, axis=-1)).numpy()
            np.testing.assert_allclose(arrays["gradcam"][rank], cam, rtol=1e-4, atol=1e-6)
        assert arrays["saliency"].max() > 0
        nonzero += bool(arrays["gradcam"][0].max() > 0)
    assert nonzero >= 10          # the formulas were compared on maps that show something


def test_class_names_in_the_single_image_title_name_and_line(fashion, tmp_path, capsys, monkeypatch):
    from utilities.explain import plotting
    folder, labels, trained, _, classes_file, names = fashion
    drawn = []
    original = plotting.comparison_figure
    monkeypatch.setattr(plotting, "comparison_figure", lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1])
    out = tmp_path / "single"
    assert single.main([str(folder / "1_0.png"), "--model", str(trained), "--preprocess", "unit", "--class-names",
                        str(classes_file), "--method", "gradcam", "--class-index", "trouser,Bag",
                        "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    figure = out / "1_0_gradcam_conv2_1-Trouser+8-Bag.png"
    assert sorted(p.name for p in out.iterdir()) == [figure.name]
    lines = captured.out.splitlines()
    assert [line.split(" p=")[0] for line in lines] == ["1_0.png: gradcam on conv2 for class 1 Trouser",
                                                        "1_0.png: gradcam on conv2 for class 8 Bag"]
    assert f"note: {trained}: class-map layer: conv2 (" in captured.err      # notes on stderr, stdout unchanged
    titles = [ax.get_title().replace("\n", " ") for ax in drawn[0].axes if ax.get_title()]
    assert any("Trouser (1) p=" in t for t in titles) and any("Bag (8) p=" in t for t in titles), titles


def test_own_model_in_class_visualisation_fooling_and_the_sweep(fashion, tmp_path, capsys):
    folder, labels, trained, _, classes_file, names = fashion
    own = ["--model", str(trained), "--preprocess", "unit", "--class-names", str(classes_file)]
    assert class_visualisation.main(["Sneaker", *own, "--iterations", "3", "--strip-every", "1",
                                     "--output-dir", str(tmp_path / "cv")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("class 7 Sneaker: p=")
    code = fooling.main([str(folder / "1_0.png"), "--target", "bag", *own, "--output-dir", str(tmp_path / "fool")])
    line = capsys.readouterr().out.strip()
    assert code in (0, 1), line
    assert ("-> 8 Bag (p" if code == 0 else ", target 8 Bag p ") in line, line
    assert (tmp_path / "fool" / "1_0_to_8_iterative.png").is_file()
    assert sweep.main(["Bag", *own, "--iterations", "1,2", "--output-dir", str(tmp_path / "sweep"),
                       "--no-progress"]) == 0
    table = list(csv.DictReader(open(tmp_path / "sweep" / "sweep.csv", encoding="utf-8")))
    assert [(r["iterations"], r["class_name"]) for r in table] == [("1", "Bag"), ("2", "Bag")]
    settings = (tmp_path / "sweep" / "run.json").read_text()
    assert '"model_file"' in settings and '"weights": "the file\'s own"' in settings


# ------------------------------------------------------------------------------ keras.applications


def test_mobilenet_v2_with_random_weights_through_the_single_image_entry_point(tmp_path, capsys):
    from tests.tiny_imagenet import write_photo
    photo = write_photo(tmp_path / "photo.png", 0, (240, 300, 3))
    keras.utils.set_random_seed(0)
    out = tmp_path / "out"
    assert single.main([str(photo), "--model", "mobilenet_v2", "--weights", "random", "--method", "gradcam",
                        "--class-index", "tabby", "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("photo.png: gradcam on out_relu for class 281 tabby cat p=")
    assert (out / "photo_gradcam_out_relu_281-tabby_cat.png").is_file()
    err = captured.err.splitlines()
    assert err[0] == model_args.RANDOM_NOTE
    assert "note: mobilenet_v2: class-map layer: out_relu (mobilenet_v2's default)" in err
    assert "note: mobilenet_v2: preprocessing: tf (mobilenet_v2's own)" in err


# ------------------------------------------------------------------------------ refusals, one line each


def _save(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


@pytest.fixture(scope="module")
def misfits(tmp_path_factory):
    root = tmp_path_factory.mktemp("misfits")
    keras.utils.set_random_seed(0)
    image = keras.Input((28, 28, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv")(image)
    flat = keras.layers.Flatten()(conv)
    doubled = keras.layers.Lambda(lambda t: t * 2.0, name="double")(conv)
    return {
        "unsafe": _save(keras.Model(image, keras.layers.Dense(3)(keras.layers.Flatten()(doubled))),
                        root / "unsafe.keras"),
        "two outputs": _save(keras.Model(image, [keras.layers.Dense(3)(flat), keras.layers.Dense(2)(flat)]),
                             root / "two_outputs.keras"),
        "no 4-D layer": _save(keras.Model(image, keras.layers.Dense(3)(keras.layers.Flatten()(image))),
                              root / "flat.keras"),
        "input rank": _save(keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)]), root / "vector.keras"),
        "fits": _save(keras.Model(image, keras.layers.Dense(3, name="head")(flat)), root / "fits.keras"),
        "two classes": _save(keras.Model(image, keras.layers.Dense(2, activation="softmax")(flat)),
                             root / "binary.keras"),
        "root": root,
    }


@pytest.mark.parametrize("case, extra, message", [
    ("unsafe", [], "unsafe.keras refused: it holds Lambda layer(s) 'double', Python code stored in the file"),
    ("two outputs", [], "two_outputs.keras: the model has 2 outputs"),
    ("no 4-D layer", [], "flat.keras: no layer has a 4-D output"),
    ("input rank", [], "vector.keras: the model's input has shape (None, 10)"),
    ("fits", ["--weights", "imagenet"], "--weights imagenet: a .keras model holds its own weights"),
    ("fits", ["--remove-fc", "1", "--num-classes", "3"], "--remove-fc 1: a .keras model is used as it was saved"),
    ("fits", ["--layer", "head"], "--layer head: its output has shape (None, 3), not a 4-D feature map"),
    ("fits", ["--class-names", "NAMES"], "--class-names NAMES has 2 names; the model has 3 outputs"),
    ("missing", [], "missing.keras: no such file"),
])
def test_files_that_are_unsafe_or_do_not_fit_are_one_line_errors(misfits, tmp_path, capsys, case, extra, message):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.zeros((30, 30, 3), np.uint8))
    names = tmp_path / "names.txt"
    names.write_text("one\ntwo\n", encoding="utf-8")
    path = misfits.get(case, misfits["root"] / "missing.keras")
    extra = [str(names) if value == "NAMES" else value for value in extra]
    assert assignment_3b.main([str(photos), "--model", str(path), "--preprocess", "unit", *extra,
                               "--output-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert message.replace("NAMES", str(names)) in err, err


def test_a_model_of_two_classes_explains_both_by_default(misfits, tmp_path, capsys):
    """--top-k defaults to 3, or to all of a model's classes when it has fewer; given, it is checked."""
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.random.default_rng(0).integers(0, 255, (30, 30, 3), np.uint8))
    own = [str(photos), "--model", str(misfits["two classes"]), "--preprocess", "unit", "--no-progress"]
    assert assignment_3b.main([*own, "--output-dir", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "predictions.csv", encoding="utf-8")))
    assert [r["rank"] for r in rows] == ["1", "2"] and {r["class_name"] for r in rows} == {"class 0", "class 1"}
    capsys.readouterr()
    assert assignment_3b.main([*own, "--top-k", "3", "--output-dir", str(tmp_path / "out3")]) == 2
    assert capsys.readouterr().err.strip() == "error: --top-k 3 is more than the model's 2 classes"


def test_a_file_that_does_not_tell_its_preprocessing_needs_the_flag(misfits, tmp_path, capsys):
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), np.zeros((30, 30, 3), np.uint8))
    assert single.main([str(photo), "--model", str(misfits["fits"]), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot tell how the model expects its input; pass --preprocess" in err


def test_the_command_line_refuses_an_unsafe_file_with_exit_status_2(misfits, tmp_path):
    """The real entry point: one line on stderr, status 2, nothing written."""
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), np.zeros((30, 30, 3), np.uint8))
    result = subprocess.run([sys.executable, "assignment_3b.py", str(photo), "--model", str(misfits["unsafe"]),
                             "--preprocess", "tf", "--output-dir", str(tmp_path / "out"), "--no-progress"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "refused: it holds Lambda layer(s) 'double'" in \
        lines[0], result.stderr[-2000:]
    assert not list((tmp_path / "out").glob("*.png"))
