"""One quickly trained judge classifier for the GAN tests, cached per test process.

`judge_dir()` is a folder holding `digits_v<VERSION>.weights.h5` as `utilities.gan.judge`
caches it, so the CLI (`--classifier-dir`) and `load_or_train_judge` load it instead of
training their own. Ten epochs instead of the tool's forty: about 97 % on the real test digits,
enough to judge the samples of the short test runs.
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

TEST_JUDGE_EPOCHS = 10


@functools.cache
def digits_images():
    from utilities.gan.data import load_gan_images
    return load_gan_images("digits")


@functools.cache
def judge_dir() -> Path:
    from utilities.common.atomic import atomic_path
    from utilities.gan.judge import judge_path, train_judge
    folder = Path(tempfile.mkdtemp(prefix="gan_judge_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    model = train_judge(digits_images(), epochs=TEST_JUDGE_EPOCHS)
    with atomic_path(judge_path(folder, "digits")) as tmp:
        model.save_weights(tmp)
    return folder


def judge_model():
    from utilities.gan.judge import load_or_train_judge
    return load_or_train_judge(digits_images(), judge_dir(), log=lambda _: None)
