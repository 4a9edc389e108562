"""Checks of the files a run names, importing no TensorFlow: the command runs them before the
slow import, so a mistyped path fails in a fraction of a second."""
from __future__ import annotations

import os
from pathlib import Path

from utilities.features_svm.errors import FeaturesSvmError

NAMED_WEIGHTS = ("imagenet", "imagenet-torch", "random")


def check_paths(*, train_list: str | os.PathLike | None = None, test_list: str | os.PathLike | None = None,
                weights: str = "imagenet", activation_maps: str | os.PathLike | None = None) -> None:
    """FeaturesSvmError naming the flag of the first path that cannot work."""
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
