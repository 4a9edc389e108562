"""`make run` runs the assignment's VGG16 command, or says why and runs it on SqueezeNet."""
from __future__ import annotations

from pathlib import Path

import pytest

from models import pretrained
from utilities.explain import main_job

ROOT = Path(__file__).resolve().parents[1]


def test_vgg16_weights_at_hand_give_the_assignment_command(monkeypatch, capsys):
    monkeypatch.setattr(pretrained, "vgg16_weights", lambda: Path("vgg16.h5"))
    assert main_job.main_job_command() == ["assignment_3b.py", "My-Images/"]
    assert capsys.readouterr().err == ""


def test_unreachable_vgg16_weights_switch_to_squeezenet_in_one_line(monkeypatch, capsys):
    def offline():
        raise pretrained.WeightsUnreachable("VGG16 ImageNet weights unavailable (URL fetch failure); download ...")

    monkeypatch.setattr(pretrained, "vgg16_weights", offline)
    assert main_job.main_job_command() == ["assignment_3b.py", "My-Images/", "--model", "squeezenet"]
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SqueezeNet" in err and "--model squeezenet" in err


def test_a_wrong_vgg16_file_is_an_error_not_a_switch(monkeypatch):
    def corrupt():
        raise pretrained.WeightsError("VGG16 ImageNet weights unavailable (Incomplete or corrupted file)")

    monkeypatch.setattr(pretrained, "vgg16_weights", corrupt)
    with pytest.raises(pretrained.WeightsError):
        main_job.main_job_command()


def test_make_run_uses_it():
    run = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "utilities.explain.main_job" in run
