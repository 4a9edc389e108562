"""`python -m utilities.digits.export`: an image set -> PNGs + the "path label" lists assignment_3a.py reads.

The real Fashion-MNIST (Debian package or Keras' cache; skipped with a reason elsewhere) checks the
pixels, the per-class counts and that 3a's own list reader takes the lists; small generated sets
check the rest (seeding, refusals, atomicity, a full disk) quickly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.real_datasets import real_fashion_mnist
from utilities.digits import export
from utilities.digits.export import ExportError, main, pick_per_class, write_export
from utilities.digits.image_set import ImageSet
from utilities.wikiart.dataset import read_image_list

ROOT = Path(__file__).resolve().parents[1]


def small_set(train: int = 12, test: int = 6, classes: int = 3, seed: int = 0) -> ImageSet:
    """`train` / `test` images per class of random 28x28 grey levels (multiples of 1/255)."""
    rng = np.random.default_rng(seed)

    def images(n):
        return (rng.integers(0, 256, (n * classes, 28, 28, 1)) / 255.0).astype(np.float32)

    return ImageSet("small", images(train), np.repeat(np.arange(classes), train), images(test),
                    np.repeat(np.arange(classes), test), [f"thing {c}/x" for c in range(classes)], "generated")


def listed(folder: Path, split: str) -> list[tuple[str, int]]:
    return [(line.rsplit(" ", 1)[0], int(line.rsplit(" ", 1)[1]))
            for line in (folder / f"{split}.txt").read_text().splitlines()]


def test_real_fashion_mnist_export_is_what_3a_reads(tmp_path):
    fashion = real_fashion_mnist()
    out = tmp_path / "fm"
    result = write_export(fashion, out, train_per_class=5, test_per_class=3, seed=1)
    assert result.counts == {"train": 50, "test": 30}
    assert (out / "classes.txt").read_text().splitlines() == list(fashion.class_names)
    for split, x, y, per_class in (("train", fashion.x_train, fashion.y_train, 5),
                                   ("test", fashion.x_test, fashion.y_test, 3)):
        image_list = read_image_list(out / f"{split}.txt")          # 3a's own reader
        assert image_list.missing == 0 and np.bincount(image_list.labels).tolist() == [per_class] * 10
        for (relative, label), path in zip(listed(out, split), image_list.paths, strict=True):
            assert relative.startswith(f"images/{split}/{label}_") and not Path(relative).is_absolute()
            index = int(Path(relative).stem)
            assert y[index] == label
            pixels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(pixels, np.rint(x[index, ..., 0] * 255).astype(np.uint8))
    info = json.loads((out / "export.json").read_text())
    assert info["dataset"] == "fashion_mnist" and info["seed"] == 1 and info["images"] == {"train": 50, "test": 30}
    assert info["source"] == fashion.source


def test_picks_are_seeded_stratified_and_independent_per_class():
    labels = np.repeat(np.arange(4), 50)
    first = pick_per_class(labels, 7, 3, 4, split="train", flag="--train-per-class", classes="abcd")
    assert np.bincount(labels[first]).tolist() == [7] * 4 and len(set(first)) == 28
    assert np.array_equal(first, pick_per_class(labels, 7, 3, 4, split="train", flag="f", classes="abcd"))
    assert not np.array_equal(first, pick_per_class(labels, 7, 4, 4, split="train", flag="f", classes="abcd"))
    assert not np.array_equal(first, pick_per_class(labels, 7, 3, 4, split="test", flag="f", classes="abcd"))
    assert len(pick_per_class(labels, 0, 3, 4, split="train", flag="f", classes="abcd")) == 200   # 0: all
    more = pick_per_class(labels, 9, 3, 4, split="train", flag="f", classes="abcd")
    assert set(first) <= set(more)   # asking for more keeps the picks of fewer
    uneven = np.concatenate([labels, [0, 1, 3]])       # class 2 has the fewest
    with pytest.raises(ExportError, match=r"--train-per-class 51: class 2 \('c'\) has only 50 train images"):
        pick_per_class(uneven, 51, 0, 4, split="train", flag="--train-per-class", classes="abcd")


def test_existing_export_is_refused_then_replaced_with_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, "load_image_set", lambda name, **kwargs: small_set())
    out = tmp_path / "out"
    assert main(["digits", str(out), "--train-per-class", "2", "--test-per-class", "1", "--no-progress"]) == 0
    assert "6 training / 3 test images of 3 classes" in capsys.readouterr().out
    (out / "mine.txt").write_text("a file of the user's")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert main(["digits", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: OUT {out} already holds files (an earlier export?); add --overwrite to replace it, " \
                  "or choose another folder"
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert main(["digits", str(out), "--train-per-class", "4", "--test-per-class", "2", "--overwrite",
                 "--no-progress"]) == 0
    assert not (out / "mine.txt").exists() and len(listed(out, "train")) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # no hidden folder left behind


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_failure_mid_way_leaves_no_half_export(tmp_path, monkeypatch, overwrite):
    out = tmp_path / "out"
    if overwrite:
        write_export(small_set(), out, train_per_class=2, test_per_class=1)
    previous = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = []

    def failing_png(image):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return cv2.imencode(".png", image)[1].tobytes()

    monkeypatch.setattr(export, "_png", failing_png)
    with pytest.raises(KeyboardInterrupt):
        write_export(small_set(), out, train_per_class=5, test_per_class=2, overwrite=overwrite)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == previous   # absent, or the old one
    assert [p.name for p in tmp_path.iterdir()] == (["out"] if overwrite else [])


def test_stale_partial_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".out.partial-{dead}"
    (stale / "images").mkdir(parents=True)
    live = tmp_path / f".out.partial-{os.getppid()}"   # a live process's export: left alone
    live.mkdir()
    write_export(small_set(), tmp_path / "out", train_per_class=1, test_per_class=1)
    assert not stale.exists() and live.exists()


def test_user_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, "load_image_set", lambda name, **kwargs: small_set())
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [(["digits", str(tmp_path / "o"), "--train-per-class", "13"],
              "--train-per-class 13: class 0 ('thing 0/x') has only 12 train images; ask for at most 12, or 0 for all"),
             (["digits", str(tmp_path / "o"), "--test-per-class", "-1"], "--test-per-class must be >= 0"),
             (["digits", str(tmp_path / "o"), "--data-dir", str(tmp_path)],
              "--data-dir applies to fashion_mnist, mnist5k only, not digits"),
             (["digits", str(afile)], f"OUT {afile} is a file, not a folder"),
             (["digits", str(afile / "o")], f"{afile} is a file, not a folder")]
    for argv, message in cases:
        assert main([*argv, "--no-progress"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_full_disk_is_one_line_and_leaves_nothing(tmpfs, capsys, monkeypatch):
    disk = tmpfs("small", 20)                     # 16 MB must be free to start; 6,000 files need ~24 MB
    monkeypatch.setattr(export, "load_image_set", lambda name, **kwargs: small_set(train=2000, test=1))
    assert main(["digits", str(disk / "out"), "--train-per-class", "0", "--test-per-class", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: the disk holding {disk / 'out'} is full (No space left on device)"), err
    assert list(disk.iterdir()) == []


def test_progress_bar_and_the_command_line(tmp_path):
    """The module runs as `python -m utilities.digits.export` (the offline `digits` set) with a progress bar,
    and prints the 3a command for the export."""
    out = tmp_path / "d"
    done = subprocess.run([sys.executable, "-m", "utilities.digits.export", "digits", str(out),
                           "--train-per-class", "3", "--test-per-class", "2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "exporting" in done.stderr and "50/50" in done.stderr
    assert f"--train-list {out / 'train.txt'} --val-list {out / 'test.txt'} --num-classes 10" in done.stdout
    assert (out / "classes.txt").read_text().split() == [str(d) for d in range(10)]


def test_3a_takes_class_names_from_the_export(tmp_path):
    """The confusion matrices and explanations of a run on an export name its classes (not WikiArt styles)."""
    from utilities.finetune.experiment import Experiment, ExperimentConfig, ExperimentError

    out = tmp_path / "e"
    write_export(small_set(), out, train_per_class=2, test_per_class=1)

    def config(classes):
        return ExperimentConfig(model="squeezenet", weights="random", train_list=out / "train.txt",
                                val_list=out / "test.txt", num_classes=classes, logdir=tmp_path / "logs",
                                checkpoint_dir=tmp_path / "ckpt", progress=False)

    assert Experiment(config(3), echo=lambda line: None).class_names == ["thing 0/x", "thing 1/x", "thing 2/x"]
    with pytest.raises(ExperimentError, match=r"classes.txt names 3 classes but --num-classes is 10; pass "
                                              r"--num-classes 3"):
        Experiment(config(10), echo=lambda line: None)
