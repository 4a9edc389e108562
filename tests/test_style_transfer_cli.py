"""style_transfer.py end to end on tiny pictures with a seeded synthetic vgg16.npy, and its error paths."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import style_transfer
from tests.style_transfer_helpers import vgg16_weight_file


@pytest.fixture(scope="module")
def weights(tmp_path_factory, vgg16_caffe_weights):
    return vgg16_weight_file(tmp_path_factory, vgg16_caffe_weights)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Two scikit-image photos saved as files (a JPEG and a PNG, different aspect ratios)."""
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("pictures")
    cv2.imwrite(str(folder / "chelsea.jpg"), skimage.data.chelsea()[..., ::-1])
    cv2.imwrite(str(folder / "coffee.png"), skimage.data.coffee()[..., ::-1])
    return folder / "chelsea.jpg", folder / "coffee.png"


RANDOM_FEATURE_WEIGHTS = ["--content-weight", "0.1", "--style-weights", "1e4,1e4,1e4,1e4,1e4", "--tv-weight", "1e-6"]


def test_cli_writes_every_output(tmp_path, weights, pictures, capsys):
    out = tmp_path / "out" / "cat.png"
    code = style_transfer.main([str(pictures[0]), str(pictures[1]), "-o", str(out), "--weights", str(weights),
                                "--image-size", "48", "--iterations", "6", "--save-every", "3", "--no-progress",
                                *RANDOM_FEATURE_WEIGHTS])
    assert code == 0
    import cv2

    result = cv2.imread(str(out))
    assert result.shape == (32, 48, 3)                      # chelsea is 451x300: long side 48
    for suffix in ("comparison.png", "losses.png"):
        figure = cv2.imread(str(tmp_path / "out" / f"cat_{suffix}"))
        assert figure is not None and figure.shape[0] > 100
    with open(tmp_path / "out" / "cat_losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == list(range(0, 7))   # iteration 0: the starting picture
    assert float(rows[-1]["style"]) < float(rows[0]["style"])
    assert float(rows[0]["content"]) == 0.0                         # started from the content picture
    assert sorted(p.name for p in (tmp_path / "out" / "cat_steps").iterdir()) == ["iter_0003.png", "iter_0006.png"]
    # the last snapshot is the result
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out" / "cat_steps" / "iter_0006.png")), result)
    run = json.loads((tmp_path / "out" / "cat_run.json").read_text())
    assert run["settings"]["weights"] == str(weights) and run["iterations_run"] == 6
    assert run["loss_weights"] == {"content": 0.1, "style": [1e4] * 5, "tv": 1e-6}
    assert run["final_losses"]["style"] < run["initial_losses"]["style"]
    assert run["settings"]["gram_normalisation"] == "handout"
    for name in ("content", "style", "tv", "total"):                # the CSV's first row is the start
        assert float(rows[0][name]) == pytest.approx(run["initial_losses"][name], rel=1e-6, abs=1e-12)
        assert float(rows[-1][name]) == pytest.approx(run["final_losses"][name], rel=1e-6)
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary files left
    printed = capsys.readouterr().out
    assert str(out) in printed
    # the closing line: every loss from start to end
    closing = next(line for line in printed.splitlines() if line.startswith("weighted losses, start -> end:"))
    first, last = run["initial_losses"], run["final_losses"]
    for name in ("content", "style", "tv", "total"):
        assert f"{name} {first[name]:.4g} -> {last[name]:.4g}" in closing, (name, closing)
    assert "content 0 -> " in closing and "after 6 iterations" in closing


@pytest.mark.slow
def test_cli_preserve_colors_adam_bfloat16(tmp_path, weights, pictures):
    """The other branches together through the CLI: Adam, luminance-only transfer, mixed bfloat16, noise start
    (each is also covered on its own by the fast tests in test_style_transfer.py)."""
    out = tmp_path / "lum.png"
    code = style_transfer.main([str(pictures[0]), str(pictures[1]), "-o", str(out), "--weights", str(weights),
                                "--image-size", "32", "--iterations", "3", "--save-every", "0", "--no-progress",
                                "--optimizer", "adam", "--preserve-colors", "--precision", "bfloat16",
                                "--init", "noise", *RANDOM_FEATURE_WEIGHTS])
    assert code == 0 and out.exists() and not (tmp_path / "lum_steps").exists()
    run = json.loads((tmp_path / "lum_run.json").read_text())
    assert run["settings"]["precision"] == "bfloat16" and run["settings"]["preserve_colors"] is True


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, weights, pictures, capsys):
    content, style = map(str, pictures)
    assert style_transfer.main([str(tmp_path / "nope.jpg"), style]) == 2
    assert "CONTENT picture" in _error(capsys)
    assert style_transfer.main([content, style, "--style-weights", "1,2"]) == 2
    assert "--style-weights has 2 value(s) for 5" in _error(capsys)
    assert style_transfer.main([content, style, "-o", str(tmp_path / "x.txt")]) == 2
    assert "-o" in _error(capsys)
    assert style_transfer.main([content, style, "--content-layer", "fc1", "--weights", str(weights)]) == 2
    assert "fc1" in _error(capsys)
    assert style_transfer.main([content, style, "--weights", str(tmp_path / "missing.npy")]) == 2
    assert "missing.npy does not exist" in _error(capsys)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    assert style_transfer.main([str(broken), style, "--weights", str(weights)]) == 2
    assert "content image" in _error(capsys)
    with pytest.raises(SystemExit) as exc:
        style_transfer.main([content, style, "--iterations", "0"])
    assert exc.value.code == 2


def test_cli_offline_imagenet_weights_explain_what_to_do(tmp_path, pictures, monkeypatch, capsys):
    import models

    def offline(name, **kwargs):
        raise models.WeightsError("VGG16 ImageNet weights unavailable (no network); download it by hand")

    monkeypatch.setattr("models.registry.imagenet_weights", offline)
    assert style_transfer.main([*map(str, pictures), "-o", str(tmp_path / "x.png")]) == 2
    assert "download it by hand" in _error(capsys)


def test_cli_names_match_the_package():
    import models
    from utilities.style_transfer import CONTENT_LAYER, GRAM_NORMALISATIONS, INITS, STYLE_LAYERS
    from utilities.style_transfer.features import PRECISIONS
    from utilities.style_transfer.optimizers import OPTIMIZERS

    assert style_transfer.CONTENT_LAYER == CONTENT_LAYER
    assert style_transfer.names(style_transfer.STYLE_LAYERS) == STYLE_LAYERS
    assert style_transfer.INITS == INITS and style_transfer.OPTIMIZERS == OPTIMIZERS
    assert style_transfer.PRECISIONS == tuple(PRECISIONS)
    assert style_transfer.GRAM_NORMALISATIONS == GRAM_NORMALISATIONS
    assert set(style_transfer.MODELS) <= set(models.MODEL_NAMES)
