"""style_transfer under hostile inputs and faults (issue 24 cases 5, 8, 11, 12), on tiny pictures with
the seeded synthetic vgg16.npy of test_style_transfer_cli.py."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import style_transfer
from tests.style_transfer_helpers import vgg16_weight_file

ROOT = Path(__file__).resolve().parents[1]
RANDOM_FEATURE_WEIGHTS = ["--content-weight", "0.1", "--style-weights", "1e4,1e4,1e4,1e4,1e4", "--tv-weight", "1e-6"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory, vgg16_caffe_weights):
    return vgg16_weight_file(tmp_path_factory, vgg16_caffe_weights)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    import cv2
    import skimage.data

    folder = tmp_path_factory.mktemp("pictures")
    cv2.imwrite(str(folder / "chelsea.jpg"), skimage.data.chelsea()[..., ::-1])
    cv2.imwrite(str(folder / "coffee.png"), skimage.data.coffee()[..., ::-1])
    return folder / "chelsea.jpg", folder / "coffee.png"


def _run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = style_transfer.main([str(a) for a in argv])
    except SystemExit as exc:   # argparse
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def _one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("flag, size", [("--image-size", "30000"), ("--image-size", "40000"),
                                        ("--style-size", "30000")])
def test_case5_a_huge_size_is_refused_up_front(flag, size, pictures, tmp_path, capsys, monkeypatch):
    import models

    monkeypatch.setattr(models, "get_spec", lambda *a, **k: pytest.fail("no network for a refused size"))
    code, _, err = _run([*pictures, "-o", tmp_path / "r.png", flag, size], capsys)
    assert code == 2 and flag in err and "4096" in err and "Traceback" not in err


def test_case8_a_file_name_that_is_not_utf8_is_an_ordinary_picture(tmp_path, weights, pictures, capsys):
    content = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9_\xff.jpg"))   # Latin-1 bytes: not UTF-8
    content.write_bytes(pictures[0].read_bytes())
    out = Path(os.fsdecode(bytes(tmp_path) + b"/out_\xe9.png"))
    code, printed, err = _run([content, pictures[1], "-o", out, "--weights", weights, "--image-size", "32",
                               "--iterations", "2", "--save-every", "0", "--no-progress", *RANDOM_FEATURE_WEIGHTS],
                              capsys)
    assert code == 0, err
    assert out.exists() and Path(str(out)[:-4] + "_comparison.png").stat().st_size > 1000
    assert "out_\ufffd.png" in printed
    record = json.loads(Path(str(out)[:-4] + "_run.json").read_text())
    assert record["iterations_run"] == 2


@pytest.mark.parametrize("kind", ["folder is a file", "read-only", "a folder as -o"])
def test_case11_an_unusable_output_is_refused_before_any_work(kind, tmp_path, pictures, capsys, monkeypatch):
    import models

    monkeypatch.setattr(models, "get_spec", lambda *a, **k: pytest.fail("no network for an unwritable -o"))
    if kind == "folder is a file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "r.png"
    elif kind == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "ro").mkdir(mode=0o500)
        out = tmp_path / "ro" / "r.png"
    else:
        (tmp_path / "r.png").mkdir()
        out = tmp_path / "r.png"
    code, _, err = _run([*pictures, "-o", out, "--weights", "random"], capsys)
    assert code == 2 and _one_line(err).startswith("error: -o "), err


def test_case11_a_full_disk_while_writing_the_result_is_one_line(tmp_path, weights, pictures, capsys,
                                                                 monkeypatch):
    from utilities.style_transfer import transfer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(transfer, "save_comparison", full)
    out = tmp_path / "r.png"
    code, _, err = _run([*pictures, "-o", out, "--weights", weights, "--image-size", "32", "--iterations", "2",
                         "--save-every", "0", "--no-progress", *RANDOM_FEATURE_WEIGHTS], capsys)
    assert code == 1 and "is full" in _one_line(err)
    assert not [p for p in tmp_path.rglob(".*")], "no temporary file left half-written"


def test_case12_ctrl_c_during_lbfgs_keeps_and_names_the_picture_so_far(tmp_path, weights, pictures, capsys,
                                                                        monkeypatch):
    """Ctrl-C arrives inside scipy's L-BFGS-B (during a function evaluation after iteration 3)."""
    from utilities.style_transfer.objective import StyleObjective

    real = StyleObjective.value_and_gradient
    calls = {"n": 0}

    def interrupted(self, image):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(self, image)

    monkeypatch.setattr(StyleObjective, "value_and_gradient", interrupted)
    out = tmp_path / "r.png"
    code, _, err = _run([*pictures, "-o", out, "--weights", weights, "--image-size", "32", "--iterations", "50",
                         "--save-every", "2", "--no-progress", *RANDOM_FEATURE_WEIGHTS], capsys)
    assert code == 130
    err = _one_line(err)
    steps = sorted((tmp_path / "r_steps").iterdir())
    assert steps and str(steps[-1]) in err and "of 50 iterations" in err, err
    assert not out.exists(), "no result pretending to be finished"


@pytest.mark.slow
def test_case12_a_real_sigint_is_one_line_and_exit_130(tmp_path, weights, pictures):
    """A real SIGINT to the command while it optimises (once the first snapshot exists)."""
    import time

    out = tmp_path / "r.png"
    proc = subprocess.Popen([sys.executable, "style_transfer.py", *map(str, pictures), "-o", str(out),
                             "--weights", str(weights), "--image-size", "64", "--iterations", "100000",
                             "--save-every", "1", "--no-progress", *RANDOM_FEATURE_WEIGHTS],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:    # a loaded machine (a whole suite in one thread) can take minutes to import and trace
        deadline = time.monotonic() + 300
        while not any((tmp_path / "r_steps").glob("iter_*")):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no snapshot within 300 s"
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "r_steps/iter_" in err and not out.exists()


def test_the_cli_default_output_is_the_packages():
    from utilities.style_transfer import default_output

    assert style_transfer.default_result("a/cat.jpg", "b/wave.png") == default_output("a/cat.jpg", "b/wave.png")
