"""Checks of the files a run names, importing no TensorFlow: the command runs them before the
slow import, so a mistyped path fails in a fraction of a second."""
from __future__ import annotations

import os
from pathlib import Path

from utilities.features_svm.errors import FeaturesSvmError

NAMED_WEIGHTS = ("imagenet", "imagenet-torch", "random")


def is_model_file(value) -> bool:
    """--model names a .keras file rather than a network (models.is_model_file's rule, no TensorFlow)."""
    text = str(value)
    return text.endswith(".keras") or "/" in text or "\\" in text or Path(text).is_file()


def check_paths(*, train_list: str | os.PathLike | None = None, test_list: str | os.PathLike | None = None,
                weights: str = "imagenet", activation_maps: str | os.PathLike | None = None,
                model: str = "vgg16", preprocess: str | None = None) -> None:
    """FeaturesSvmError naming the flag of the first path that cannot work."""
    if is_model_file(model):
        if not Path(model).is_file():
            raise FeaturesSvmError(f"--model {model}: no such .keras model file (the whole model, as model.save "
                                   "writes it)")
        if weights != "imagenet":
            raise FeaturesSvmError(f"--weights {weights}: a .keras model holds its own weights; leave --weights "
                                   f"out with --model {model}")
    elif preprocess is not None:
        raise FeaturesSvmError(f"--preprocess {preprocess}: for a .keras --model only; {model} is fed its own "
                               "preprocessing")
    if (train_list is None) != (test_list is None):
        raise FeaturesSvmError("--train-list and --test-list go together: pass both")
    for flag, path in (("--train-list", train_list), ("--test-list", test_list)):
        if path is not None and not Path(path).is_file():
            raise FeaturesSvmError(f"{flag} {path}: image list not found (one '<image path> <integer label>' "
                                   "per line, paths relative to the list)")
    if weights not in NAMED_WEIGHTS and not Path(weights).is_file():
        raise FeaturesSvmError(f"--weights {weights}: no such file; pass imagenet, random or a weight file "
                               "(.npy, .npz, .h5, .weights.h5, .keras)")
    if activation_maps is not None and not Path(activation_maps).is_file():
        raise FeaturesSvmError(f"--activation-maps {activation_maps}: no such image file")
