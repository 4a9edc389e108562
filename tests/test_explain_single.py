"""`python -m utilities.explain IMAGE --method NAME`: one registered method, one image, an honest exit status."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import route_open_model_through_models
from tests.tiny_imagenet import write_photo
from utilities.common.imagenet_classes import class_names
from utilities.explain import single
from utilities.explain.file_names import figure_name
from utilities.explain.registry import METHODS

ROOT = Path(__file__).resolve().parents[1]


def _figures(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


@pytest.mark.parametrize("method, layer", [("saliency", ""), ("gradcam", "_block5_conv3"),
                                           ("guided_gradcam", "_block5_conv3"), ("smoothgrad", "")])
def test_each_method_writes_its_figure_named_by_method_layer_and_class(tiny_cli, tmp_path, capsys, method, layer):
    photo = write_photo(tmp_path / "cat.png", 0)
    out = tmp_path / "out"
    assert single.main([str(photo), "--method", method, "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    index = int(printed.split(" for class ")[1].split()[0])
    name = class_names()[index]
    figure = out / f"cat_{method}{layer}_{index}-{name.replace(' ', '_')}.png"
    assert _figures(out) == [figure.name]
    assert figure.stat().st_size > 1000
    where = f" on {layer[1:]}" if layer else ""
    assert printed.startswith(f"cat.png: {method}{where} for class {index} {name} p=") and str(figure) in printed


def test_the_class_index_is_the_one_explained(tiny_cli, tiny_model, tmp_path, capsys):
    photo = write_photo(tmp_path / "cat.png", 0)
    assert single.main([str(photo), "--method", "gradcam", "--class-index", "7",
                        "--output-dir", str(tmp_path)]) == 0
    assert "for class 7 cock " in capsys.readouterr().out
    assert (tmp_path / "cat_gradcam_block5_conv3_7-cock.png").is_file()


def test_classes_by_name_and_an_unknown_name_lists_close_matches(tiny_cli, tmp_path, capsys):
    photo = write_photo(tmp_path / "cat.png", 0)
    assert single.main([str(photo), "--method", "gradcam", "--class-index", "tabby cat,285",
                        "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "cat_gradcam_block5_conv3_281-tabby_cat+285-Egyptian_Mau.png").is_file()
    capsys.readouterr()
    assert single.main([str(photo), "--method", "gradcam", "--class-index", "tabbby cat",
                        "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --class-index 'tabbby cat' is not a class name") and "281 tabby cat" in err
    assert len(err.splitlines()) == 1


@pytest.fixture
def two_layer_cli(monkeypatch):
    """The CLI with a tiny 1000-class model that has two conv layers of different resolution."""
    import dataclasses

    import keras

    import models
    from tests.tiny_imagenet import SIZE, tiny_preprocess
    keras.utils.set_random_seed(5)
    inputs = keras.Input((SIZE, SIZE, 3))
    a = keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="conv_a")(inputs)
    b = keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="conv_b")(a)
    model = keras.Model(inputs, keras.layers.Dense(1000)(keras.layers.Flatten()(b)))
    spec = dataclasses.replace(models.get_spec("vgg16"), input_size=SIZE, preprocess=tiny_preprocess,
                               gradcam_layer="conv_b")
    monkeypatch.setattr(models, "get_spec", lambda name, weights=None: spec)
    monkeypatch.setattr(models, "build_model", lambda *a, **k: model)
    route_open_model_through_models(monkeypatch)
    return model


def test_classes_and_layers_compared_in_one_figure_with_titles_naming_them(two_layer_cli, tmp_path, capsys,
                                                                           monkeypatch):
    """--class-index 285,281 --layer conv_a,conv_b: one figure, rows = classes, columns = layers (map +
    overlay each), every map titled with method, layer, class name and probability."""
    from utilities.explain import plotting
    photo = write_photo(tmp_path / "cat.png", 0)
    drawn = []
    original = plotting.comparison_figure

    def keep(*args, **kwargs):
        drawn.append(original(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(plotting, "comparison_figure", keep)
    assert single.main([str(photo), "--method", "gradcam", "--class-index", "285,tabby cat",
                        "--layer", "conv_a,conv_b", "--output-dir", str(tmp_path / "out")]) == 0
    assert _figures(tmp_path / "out") == ["cat_gradcam_conv_a+conv_b_285-Egyptian_Mau+281-tabby_cat.png"]
    (fig,) = drawn
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.get_title()]
    assert len(titles) == 1 + 2 * 2 * 2, titles       # input + 2 classes x 2 layers x (map, overlay)
    maps = [t for t in titles if t.startswith("Grad-CAM")]
    expected = [(layer, index, name) for index, name in [(285, "Egyptian Mau"), (281, "tabby cat")]
                for layer in ("conv_a", "conv_b")]
    assert len(maps) == 4
    for title, (layer, index, name) in zip(maps, expected, strict=True):
        assert f"on {layer}" in title and f"{name} ({index}) p=" in title, title
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(" p=")[0] for line in printed] == [
        "gradcam on conv_a for class 285 Egyptian Mau", "gradcam on conv_b for class 285 Egyptian Mau",
        "gradcam on conv_a for class 281 tabby cat", "gradcam on conv_b for class 281 tabby cat"]
    # each column is its own layer's map: the two layers' maps differ
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_title().startswith("Grad-CAM")]
    assert not np.allclose(images[0], images[1])


def test_an_existing_figure_is_never_replaced_without_overwrite(tiny_cli, tmp_path, capsys):
    photo = write_photo(tmp_path / "cat.png", 0)
    out = tmp_path / "out"
    args = [str(photo), "--method", "gradcam", "--output-dir", str(out)]
    assert single.main([*args, "--class-index", "7"]) == 0
    figure = out / "cat_gradcam_block5_conv3_7-cock.png"
    figure.write_bytes(b"earlier result")
    capsys.readouterr()
    assert single.main([*args, "--class-index", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {figure} exists already: add --overwrite to replace it, or choose another --output-dir"
    assert figure.read_bytes() == b"earlier result"
    assert single.main([*args, "--class-index", "7", "--overwrite"]) == 0
    assert figure.read_bytes()[:4] == b"\x89PNG"
    # another class or another layer is another file: nothing replaced
    assert single.main([*args, "--class-index", "8"]) == 0
    assert (out / "cat_gradcam_block5_conv3_8-hen.png").is_file()
    # the top class, known only after the pass, is checked as well
    assert single.main(args) == 0
    before = _figures(out)
    capsys.readouterr()
    assert single.main(args) == 2 and "exists already" in capsys.readouterr().err
    assert _figures(out) == before and len(before) == 3


def test_layer_with_a_method_that_uses_none_is_refused(tiny_cli, tmp_path, capsys):
    photo = write_photo(tmp_path / "cat.png", 0)
    assert single.main([str(photo), "--method", "saliency", "--layer", "block5_conv3",
                        "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --layer: saliency uses no layer; only these methods do: gradcam")
    assert not (tmp_path / "out").exists()


def test_file_names_are_safe_utf8_and_bounded():
    name = figure_name("caf\udce9 photo", "gradcam", ["outer/inner"], [(284, "Siamese cat"), (5, "a'b\"c")])
    assert name == "caf\ufffd_photo_gradcam_outer_inner_284-Siamese_cat+5-a_b_c.png"
    assert figure_name("x", "saliency", [], [(0, "tench")]) == "x_saliency_0-tench.png"
    assert figure_name("..hidden", "saliency", [], [(1, "Å ö")]) == "hidden_saliency_1-Å_ö.png"
    long = figure_name("p" * 150, "gradcam", ["layer"], [(i, "automated teller machine") for i in range(9)])
    other = figure_name("p" * 150, "gradcam", ["layer"], [(i, "automated teller machine") for i in range(1, 10)])
    assert len(long.encode()) <= 200 and long.endswith(".png") and long != other
    wide = figure_name("é" * 150, "gradcam", [], [(1, "x")])
    assert len(wide.encode()) <= 200 and wide.encode().decode("utf-8")   # never half a character


@pytest.mark.parametrize("args, message", [
    (["--method", "magic"], "unknown method(s) magic"),
    (["--class-index", "1000"], "--class-index 1000 is outside 0..999"),
    (["--method", "gradcam", "--layer", "nope"], "layer 'nope' not found"),
])
def test_bad_arguments_fail_with_one_line_and_status_2(tiny_cli, tmp_path, capsys, args, message):
    photo = write_photo(tmp_path / "cat.png", 0)
    assert single.main([str(photo), *args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_the_help_lists_every_registered_method(capsys):
    with pytest.raises(SystemExit) as exit_info:
        single.main(["--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert all(name in shown for name in METHODS), shown


def test_python_dash_m_returns_non_zero_on_failure(tmp_path):
    """The real entry point: the exit status reaches the shell (the old per-method blocks exited 0)."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    result = subprocess.run([sys.executable, "-m", "utilities.explain", str(broken), "--method", "gradcam",
                             "--output-dir", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [f"error: {broken}: not an image OpenCV can decode "
                                                  "(unknown format, or corrupt/truncated data)"]


def test_an_input_attribution_method_compares_classes_too(tiny_cli, tmp_path, capsys):
    """Saliency uses no layer: one map column, one row per class, no layer in the name."""
    photo = write_photo(tmp_path / "cat.png", 0)
    out = tmp_path / "out"
    assert single.main([str(photo), "--method", "saliency", "--class-index", "cock,hen", "--output-dir", str(out)]) == 0
    assert _figures(out) == ["cat_saliency_7-cock+8-hen.png"]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" p=")[0] for line in printed] == ["cat.png: saliency for class 7 cock",
                                                         "cat.png: saliency for class 8 hen"]
