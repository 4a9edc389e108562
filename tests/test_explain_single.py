"""`python -m utilities.explain IMAGE --method NAME`: one registered method, one image, an honest exit status."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_imagenet import write_photo
from utilities.explain import single
from utilities.explain.registry import METHODS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("method", ["saliency", "gradcam", "guided_gradcam", "smoothgrad"])
def test_each_method_writes_its_figure(tiny_cli, tmp_path, capsys, method):
    photo = write_photo(tmp_path / "cat.png", 0)
    out = tmp_path / "out"
    assert single.main([str(photo), "--method", method, "--output-dir", str(out)]) == 0
    figure = out / f"cat_{method}.png"
    assert figure.stat().st_size > 1000
    printed = capsys.readouterr().out
    assert printed.startswith(f"cat.png: {method} for class ") and str(figure) in printed


def test_the_class_index_is_the_one_explained(tiny_cli, tiny_model, tmp_path, capsys):
    photo = write_photo(tmp_path / "cat.png", 0)
    assert single.main([str(photo), "--method", "gradcam", "--class-index", "7",
                        "--output-dir", str(tmp_path)]) == 0
    assert "for class 7 " in capsys.readouterr().out


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
