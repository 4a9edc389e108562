"""The class-visualisation sweep (Q9: iterations x learning rate x regularisation in one command), the
reports of class visualisation and fooling, and classes given by name. The tiny stand-in network
(tests/tiny_imagenet.py) checks layout, naming and bookkeeping; what a real network does is in
tests/test_synthesis_real.py."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from tests.tiny_imagenet import SIZE, tiny_preprocess, write_photo
from utilities.common.imagenet_classes import class_names
from utilities.explain.class_lookup import ClassLookupError, resolve_class, resolve_class_list
from utilities.explain.images import unit_rgb_preprocess
from utilities.explain.synthesis import class_visualisation, fooling, sweep
from utilities.explain.synthesis.class_visualisation import ClassVisualiser

NAMES = class_names()
SMALL = ["--iterations", "2,3", "--learning-rate", "0.01,0.03", "--l2-weight", "0,1e-3", "--init", "noise",
         "--no-progress"]


# ------------------------------------------------------------------ classes by name


@pytest.mark.parametrize("text, index", [("6", 6), ("stingray", 6), (" Stingray ", 6), ("tabby cat", 281),
                                         ("tabby", 281), ("ATM", 480), ("Egyptian cat", 285)])
def test_a_class_by_index_name_or_imagenet_synonym(text, index):
    assert resolve_class(text, NAMES) == index


@pytest.mark.parametrize("text, message", [
    ("crane", "--target 'crane' is ambiguous: 134 crane, 517 crane; give the index"),
    ("maillot", "--target 'maillot' is ambiguous: 638 tights, 639 tank suit; give the index"),
    ("1000", "--target 1000 is outside 0..999"),
    ("-1", "--target -1 is outside 0..999"),
])
def test_ambiguous_and_out_of_range_classes_are_one_line_errors(text, message):
    with pytest.raises(ClassLookupError) as info:
        resolve_class(text, NAMES)
    assert str(info.value) == message


def test_an_unknown_name_lists_the_closest_classes():
    with pytest.raises(ClassLookupError) as info:
        resolve_class("sting ray", NAMES)
    message = str(info.value)
    assert message.startswith("--target 'sting ray' is not a class name or an index 0..999; closest: ")
    assert "6 stingray" in message and "\n" not in message
    with pytest.raises(ClassLookupError, match="not a class name") as info:
        resolve_class("qwxzv", NAMES)
    assert "closest" not in str(info.value)


def test_lists_of_classes_and_models_with_their_own_classes():
    assert resolve_class_list("285, tabby cat,285", NAMES, flag="--class-index") == [285, 281]
    assert resolve_class("class 3", class_names(10)) == 3     # a 3a model's 10 outputs
    with pytest.raises(ClassLookupError, match="outside 0..9"):
        resolve_class("10", class_names(10))


# ------------------------------------------------------------------ snapshots = shorter runs


def test_a_snapshot_is_exactly_the_shorter_run(tiny_model):
    """The sweep's iterations come from one ascent: the image at step s (before that step's blur) must
    be the final image of a run of s iterations, blur and jitter included."""
    options = {"learning_rate": 0.05, "l2_weight": 1e-3, "blur_every": 2, "blur_sigma": 0.7, "jitter": 3,
               "value_range": (0.0, 1.0)}
    preprocess = unit_rgb_preprocess(tiny_preprocess)
    long = ClassVisualiser(tiny_model, preprocess, iterations=6, **options).visualise(
        [7, 8], init="noise", seed=4, snapshots=[2, 4, 6])
    assert long.steps == 6 and sorted(long.snapshots) == [2, 4, 6]
    np.testing.assert_array_equal(long.snapshots[6], long.images)
    for steps in (2, 4):
        short = ClassVisualiser(tiny_model, preprocess, iterations=steps, **options).visualise(
            [7, 8], init="noise", seed=4)
        np.testing.assert_allclose(long.snapshots[steps], short.images, atol=1e-6)
        assert not np.allclose(long.snapshots[steps], long.images)
    with pytest.raises(ValueError, match="snapshots must be steps 1..6"):
        ClassVisualiser(tiny_model, preprocess, iterations=6, **options).visualise([7], snapshots=[7])


# ------------------------------------------------------------------ the sweep command


def _rows(folder):
    with open(folder / "sweep.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_sweep_writes_one_grid_and_one_table(tiny_cli, tiny_model, tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    figures = []
    draw = sweep.sweep_figure
    monkeypatch.setattr(sweep, "sweep_figure", lambda *a, **k: figures.append(draw(*a, **k)) or figures[-1])
    assert sweep.main(["cock", "8", *SMALL, "--output-dir", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 2 * 2 * 2 * 2            # 2 classes x 2 iterations x 2 learning rates x 2 L2 weights
    assert {(r["iterations"], r["learning_rate"], r["l2_weight"], r["class"]) for r in rows} == {
        (i, lr, l2, c) for i in ("2", "3") for lr in ("0.01", "0.03") for l2 in ("0.0", "0.001") for c in ("7", "8")}
    assert set(rows[0]) >= {"p_class", "top1", "top1_name", "p_top1", "steps", "penalised_l2", "change_l2",
                            "change_linf", "blur_every", "blur_sigma", "jitter"}
    assert all(r["steps"] == r["iterations"] for r in rows)
    assert (out / "sweep.png").stat().st_size > 1000 and (out / "run.json").is_file()
    assert len(list((out / "runs").glob("*.npz"))) == 4   # one ascent per (lr, L2); iterations from snapshots

    # the figure: columns = iterations, rows = class x lr x L2, every cell titled with its row's top-1 and p
    (fig,) = figures
    cells = [ax for ax in fig.axes if ax.get_images()]
    assert len(cells) == 16
    texts = [t.get_text() for t in fig.texts]
    assert "iterations 2" in texts and "iterations 3" in texts
    assert "7 cock\nlr 0.01\nL2 0" in texts and "8 hen\nlr 0.03\nL2 0.001" in texts
    titles = [ax.get_title().replace("\n", " ") for ax in cells]
    by_cell = [r for c in ("7", "8") for lr in ("0.01", "0.03") for l2 in ("0.0", "0.001") for i in ("2", "3")
               for r in rows if (r["class"], r["learning_rate"], r["l2_weight"], r["iterations"]) == (c, lr, l2, i)]
    assert titles == [f"top-1 {r['top1']} {r['top1_name']} p {float(r['p_top1']):.3f}" for r in by_cell]

    # the table is what a single run with those settings gives
    row = next(r for r in rows if (r["class"], r["iterations"], r["learning_rate"], r["l2_weight"]) ==
               ("8", "3", "0.03", "0.001"))
    preprocess = unit_rgb_preprocess(tiny_preprocess)
    options = class_visualisation.preset_options("rgb", iterations=3, learning_rate=0.03, l2_weight=1e-3)
    single = class_visualisation.visualise_classes(tiny_model, [7, 8], preprocess=preprocess,
                                                   image_shape=(SIZE, SIZE, 3), init="noise", seed=0,
                                                   value_range=(0.0, 1.0), **options)
    p = class_visualisation.class_probabilities(tiny_model, preprocess, single.images)[1]
    assert float(row["p_class"]) == pytest.approx(p[8], abs=1e-6)
    assert int(row["top1"]) == int(p.argmax())
    change = single.images[1] - single.strip[0][1]
    assert float(row["change_l2"]) == pytest.approx(np.linalg.norm(change), abs=1e-3)
    assert float(row["change_linf"]) == pytest.approx(np.abs(change).max(), abs=1e-3)
    printed = capsys.readouterr().out
    assert "iterations 3, lr 0.03, L2 0.001, blur every 10, blur sigma 0.5, jitter 8: class 8 hen p=" in printed


def test_the_sweep_folder_is_claimed_resumed_and_overwritten(tiny_cli, tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    args = ["7", *SMALL, "--output-dir", str(out)]
    assert sweep.main(args) == 0
    first = _rows(out)
    capsys.readouterr()
    assert sweep.main(args) == 2                      # a finished sweep is never silently replaced
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {out} already holds a run: add --resume to continue it, --overwrite to start it "
                   "over, or choose another --output-dir")
    # interrupted: one setting's run missing; --resume computes only that one, the table is the same
    missing = sorted((out / "runs").glob("*.npz"))[1]
    missing.unlink()
    (out / "sweep.png").unlink()
    calls = []
    run = sweep.run_group
    monkeypatch.setattr(sweep, "run_group", lambda *a, **k: calls.append(a[3]) or run(*a, **k))
    assert sweep.main([*args, "--resume"]) == 0
    assert len(calls) == 1 and sweep.group_key(calls[0]) + ".npz" == missing.name
    assert "--resume: 3 of 4 setting(s) done already" in capsys.readouterr().out
    assert _rows(out) == first and (out / "sweep.png").is_file()
    assert sweep.main([*args[:-2], "--seed", "1", "--output-dir", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--resume: the sweep in" in err and "seed: 0 -> 1" in err and len(err.splitlines()) == 1
    assert sweep.main([*args, "--iterations", "2", "--overwrite"]) == 0
    assert {r["iterations"] for r in _rows(out)} == {"2"}


@pytest.mark.parametrize("args, message", [
    (["--iterations", "0,10"], "--iterations: every value must be > 0, got 0"),
    (["--learning-rate", "5,abc"], "--learning-rate '5,abc': 'abc' is not a number"),
    (["--l2-weight", "-1"], "--l2-weight: every value must be >= 0, got -1"),
    (["--jitter", "1.5"], "--jitter '1.5': '1.5' is not a number; give whole numbers"),
    (["--iterations", "1,2,3,4,5", "--learning-rate", "1,2,3,4,5", "--l2-weight", "0,1,2,3,4"],
     "the sweep has 125 runs (1 class(es) x 5 x 5 x 5 x 1 x 1 x 1 settings); at most 100"),
    (["--resume", "--overwrite"], "--resume and --overwrite: choose one"),
])
def test_bad_sweep_settings_are_one_line_before_any_work(tiny_cli, tmp_path, capsys, monkeypatch, args, message):
    import models
    built = []
    monkeypatch.setattr(models, "build_model", lambda *a, **k: built.append(1))
    assert sweep.main(["7", *args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1, err
    assert not built and not (tmp_path / "out").exists()


def test_an_unknown_class_name_in_the_sweep(tiny_cli, tmp_path, capsys):
    assert sweep.main(["gorila", "--output-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: CLASSES 'gorila' is not a class name") and "366 gorilla" in err


# ------------------------------------------------------------------ the reports


def test_class_visualisation_reports_class_probability_steps_and_norms(tiny_cli, tmp_path, capsys):
    out = tmp_path / "cv"
    assert class_visualisation.main(["hen", "--iterations", "3", "--init", "noise", "--strip-every", "1",
                                     "--output-dir", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("class 8 hen: p=") and ", top-1 " in line
    assert "; 3 steps, logit " in line and "penalised L2 " in line and "change from the start L2 " in line
    assert line.endswith("(rgb, 3 iterations)")


def test_fooling_by_name_reports_class_probability_steps_and_norms(tiny_cli, tmp_path, capsys):
    photo = write_photo(tmp_path / "photo.png", 0)
    out = tmp_path / "fool"
    code = fooling.main([str(photo), "--target", "stingray", "--max-steps", "3", "--output-dir", str(out)])
    assert code in (0, 1)
    line = capsys.readouterr().out.strip()
    assert line.startswith(("fooled: ", "NOT fooled: ")) and " (p " in line
    assert " step(s); change L2 " in line and ", L-inf " in line and "/255) in RGB [0, 1] -> " in line
    if code == 0:
        assert " -> 6 stingray (p " in line
    else:
        assert ", target 6 stingray p " in line
    assert (out / "photo_to_6_iterative.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--target", "crane"], "error: --target 'crane' is ambiguous: 134 crane, 517 crane; give the index"),
    (["stingrey"], "error: TARGET 'stingrey' is not a class name or an index 0..999; closest: 6 stingray"),
    (["6", "--target", "6"], "error: give the target class once: as TARGET or as --target"),
    ([], "error: give the target class once"),
])
def test_fooling_targets_that_are_not_one_class(tiny_cli, tmp_path, capsys, args, message):
    photo = write_photo(tmp_path / "photo.png", 0)
    assert fooling.main([str(photo), *args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
