"""The shared picture-size bounds."""
from __future__ import annotations

import argparse

import pytest

from utilities.common.image_limits import MAX_SIDE, check_side, side_type


def test_check_side():
    assert check_side(512, "--image-size") == 512
    with pytest.raises(ValueError, match=f"--image-size must be between 1 and {MAX_SIDE} pixels, got 30000; larger"):
        check_side(30000, "--image-size")
    with pytest.raises(ValueError, match="between 32 and"):
        check_side(8, "--style-size", min_side=32)


def test_side_type_in_a_parser(capsys):
    parser = argparse.ArgumentParser(prog="prog")
    parser.add_argument("--image-size", type=side_type(min_side=32))
    assert parser.parse_args(["--image-size", "256"]).image_size == 256
    for bad in ("40000", "16", "big"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(["--image-size", bad])
        assert info.value.code == 2
    assert "argument --image-size: expected a whole number of pixels, got 'big'" in capsys.readouterr().err
