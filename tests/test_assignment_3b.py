"""assignment_3b.py and explain_folder: outputs, arrays, bad input, exit status, clear errors."""
import csv
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import assignment_3b
import models
from tests.tiny_imagenet import SIZE, tiny_preprocess, write_photo
from utilities.explain.folder import explain_folder
from utilities.explain.gradcam import GradCAM
from utilities.explain.saliency import VanillaGradient

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_photo(folder / "one.png", 0)
    write_photo(folder / "two.jpg", 1, (50, 30, 3))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "README.txt").write_text("not an image, ignored")
    return folder


def test_folder_outputs_and_arrays(tiny_model, photo_folder, tmp_path):
    out = tmp_path / "results"
    lines = []
    report = explain_folder(photo_folder, tiny_model, preprocess=tiny_preprocess, input_size=SIZE,
                            layer="block5_conv3", top_k=3, output_dir=out, save_arrays=True,
                            batch_size=1, progress=False, echo=lines.append)
    assert report.processed == ["one.png", "two.jpg"] and not report.ok
    assert set(report.failed) == {"broken.jpg", "empty.png"} and report.ignored == ["README.txt"]
    assert "empty file" in report.failed["empty.png"]
    for name in ["one.png", "two.png", "summary.png", "predictions.csv", "failed.csv",
                 "one.npz", "two.npz"]:
        assert (out / name).stat().st_size > 0, name
    assert any(line.startswith("FAILED broken.jpg: ") for line in lines)
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert [(r["image"], r["rank"]) for r in rows[:3]] == [("one.png", "1"), ("one.png", "2"),
                                                          ("one.png", "3")]

    arrays = np.load(out / "one.npz")
    assert sorted(arrays.files) == ["classes", "gradcam", "input", "logits", "saliency"]
    assert arrays["input"].shape == (SIZE, SIZE, 3) and arrays["logits"].shape == (1000,)
    assert arrays["saliency"].shape == (SIZE, SIZE) and arrays["gradcam"].shape == (3, 15, 15)
    # The arrays are what the methods give on exactly that model input, for the ranked classes.
    logits = tiny_model(arrays["input"][None]).numpy()[0]
    np.testing.assert_allclose(arrays["logits"], logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(arrays["classes"], np.argsort(-logits)[:3])
    x = arrays["input"][None]
    np.testing.assert_allclose(arrays["gradcam"], GradCAM(tiny_model, "block5_conv3").explain(
        x, arrays["classes"][None]).maps[0], rtol=1e-4, atol=1e-6)
    wrt_model_input = VanillaGradient(tiny_model).get_mask(x[0], int(arrays["classes"][0]))
    np.testing.assert_allclose(arrays["saliency"], 255 / 127.5 * wrt_model_input, rtol=1e-4)
    assert rows[0]["class_name"] == _imagenet_name(int(arrays["classes"][0]))


def _imagenet_name(index):
    from utilities.common.imagenet_classes import imagenet_classes
    return imagenet_classes()[index].name


def test_cli_exit_status_and_one_line_errors(tiny_cli, photo_folder, tmp_path, capsys):
    run = lambda *args: assignment_3b.main([*map(str, args), "--no-progress"])  # noqa: E731
    good = tmp_path / "good"
    good.mkdir()
    write_photo(good / "a.png", 3)
    assert run(good, "--output-dir", tmp_path / "o1", "--top-k", "2") == 0
    assert "a.png: " in capsys.readouterr().out
    assert run(photo_folder, "--output-dir", tmp_path / "o2") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message in [((tmp_path / "missing",), "folder not found"),
                          ((empty,), "no images"),
                          ((good, "--methods", "saliency,magic"), "unknown method(s) magic"),
                          ((good, "--layer", "nope"), "layer 'nope' not found"),
                          ((good, "--remove-fc", "1"), "needs --num-classes")]:
        assert run(*args, "--output-dir", tmp_path / "o3") == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_cli_download_failure_is_one_line(monkeypatch, tmp_path, capsys):
    """Offline: keras' get_file raises a bare Exception; the user sees one line, no traceback."""
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- offline")
    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    write_photo(tmp_path / "a.png", 0)
    assert assignment_3b.main([str(tmp_path / "a.png"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: VGG16 ImageNet weights unavailable") and "\n" not in err


def test_cli_alexnet_with_a_weight_file(alexnet_npy, tmp_path, capsys):
    """The real AlexNet (grouped convs, LRN) from a synthetic bvlc_alexnet.npy, conv5 Grad-CAM."""
    write_photo(tmp_path / "a.png", 0, (300, 200, 3))
    out = tmp_path / "out"
    code = assignment_3b.main([str(tmp_path / "a.png"), "--model", "alexnet", "--weights",
                               str(alexnet_npy), "--output-dir", str(out), "--save-arrays",
                               "--no-progress"])
    assert code == 0
    arrays = np.load(out / "a.npz")
    assert arrays["input"].shape == (227, 227, 3) and arrays["gradcam"].shape == (3, 13, 13)
    assert arrays["saliency"].shape == (227, 227) and arrays["saliency"].max() > 0


@pytest.mark.slow
def test_assignment_command_from_a_fresh_clone(tmp_path):
    """`python assignment_3b.py My-Images/` (VGG16; random weights: tests are offline)."""
    assert (ROOT / "My-Images").resolve() == (ROOT / "my_images").resolve()
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "chelsea.jpg").symlink_to(ROOT / "My-Images" / "chelsea.jpg")
    result = subprocess.run([sys.executable, "assignment_3b.py", str(folder), "--weights", "random",
                             "--output-dir", str(tmp_path / "out"), "--no-progress"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "chelsea.jpg: " in result.stdout and (tmp_path / "out" / "chelsea.png").exists()


def test_explains_a_model_fine_tuned_by_3a(tmp_path, alexnet_npy):
    """The weights 3a exports at the end of a run load into 3b's fine-tuned model path."""
    import numpy as np

    from utilities.finetune.experiment import export_weights

    tuned = models.build_model("alexnet", weights=alexnet_npy, remove_fc=1, num_classes=10)
    tuned.get_layer("classifier").set_weights([np.full((4096, 10), 0.01, np.float32), np.arange(10, dtype=np.float32)])
    path = export_weights(tuned, tmp_path / "final.weights.h5")
    again = models.build_model("alexnet", weights=path, remove_fc=1, num_classes=10)
    np.testing.assert_array_equal(again.get_layer("classifier").get_weights()[1], np.arange(10))
    assert not [p for p in tmp_path.iterdir() if p.name != "final.weights.h5"]


def test_help_lists_every_registered_method():
    from utilities.explain.registry import METHODS

    assert tuple(METHODS) == assignment_3b.METHOD_NAMES


def test_cli_all_methods_and_their_flags(tiny_cli, tmp_path, capsys):
    """Every registered method runs through the command; per-method flags reach the methods."""
    from utilities.explain import registry

    good = tmp_path / "good"
    good.mkdir()
    write_photo(good / "a.png", 3)
    seen = {}
    real_build = registry.build_explainers

    def spy(*args, **kwargs):
        built = real_build(*args, **kwargs)
        seen.update(built)
        return built

    import utilities.explain.folder as explain_folder_module
    monkey = pytest.MonkeyPatch()
    monkey.setattr(explain_folder_module, "build_explainers", spy)
    try:
        code = assignment_3b.main([str(good), "--methods", ",".join(assignment_3b.METHOD_NAMES),
                                   "--smoothgrad-samples", "3", "--ig-steps", "4", "--scorecam-channels", "5",
                                   "--occlusion-window", "6",
                                   "--output-dir", str(tmp_path / "out"), "--save-arrays", "--no-progress"])
    finally:
        monkey.undo()
    assert code == 0, capsys.readouterr().err
    assert set(seen) == set(assignment_3b.METHOD_NAMES)
    assert seen["smoothgrad"].samples == 3 and seen["vargrad"].samples == 3
    assert seen["integrated_gradients"].steps == 4 and seen["scorecam"].max_channels == 5
    assert seen["occlusion"].window == 6
    arrays = np.load(tmp_path / "out" / "a.npz")
    assert arrays["gradcam_pp"].shape[0] == 3 and arrays["smoothgrad"].shape == (SIZE, SIZE)


def test_cli_evaluate(tiny_cli, tmp_path, capsys):
    good = tmp_path / "good"
    good.mkdir()
    for i in range(2):
        write_photo(good / f"{i}.png", i)
    code = assignment_3b.main([str(good), "--evaluate", "--methods", "saliency,gradcam",
                               "--evaluate-steps", "4", "--randomisation-stages", "1",
                               "--output-dir", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("saliency", "gradcam", "random", "edges"):
        assert name in out
    assert (tmp_path / "out" / "evaluation" / "deletion.png").exists()


def test_cli_evaluate_randomisation_stages_zero_skips_the_check(tiny_cli, tmp_path, capsys):
    """`--randomisation-stages 0` skips the sanity check (it once meant "every layer")."""
    good = tmp_path / "good"
    good.mkdir()
    write_photo(good / "0.png", 0)
    out = tmp_path / "out" / "evaluation"
    assert assignment_3b.main([str(good), "--evaluate", "--methods", "gradcam", "--evaluate-steps", "4",
                               "--randomisation-stages", "0", "--output-dir", str(tmp_path / "out"),
                               "--no-progress"]) == 0
    assert (out / "deletion.png").exists() and not (out / "randomisation.png").exists()
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    assert rows and all(row["randomisation_spearman"] in ("", "nan") for row in rows), rows
    capsys.readouterr()
    with pytest.raises(SystemExit):
        assignment_3b.main([str(good), "--evaluate", "--randomisation-stages", "-1"])
    assert "must be >= 0" in capsys.readouterr().err
