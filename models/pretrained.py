"""Where the ImageNet weights of each network come from, and how they are fetched.

- AlexNet: Guerzhoy's `bvlc_alexnet.npy` (the assignment's file), saved to `weights/`. No
  official hash is published, so the download is made atomic (a killed download never leaves a
  file that looks complete) and the loader's shape check of all 16 arrays validates it.
- VGG16, VGG19: the `keras.applications` h5 through `keras.utils.get_file`, verified by its md5,
  in Keras' own cache (`~/.keras/models`, or `$KERAS_HOME/models`) so it is shared with Keras.
"""
from __future__ import annotations

import os
from pathlib import Path

import keras

from models.weight_formats import WeightsError
from utilities.common.downloads import DownloadError, download_file, hash_matches

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = PROJECT_ROOT / "weights"

ALEXNET_URL = "http://www.cs.toronto.edu/~guerzhoy/tf_alexnet/bvlc_alexnet.npy"
ALEXNET_FILE = "bvlc_alexnet.npy"

VGG16_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
             "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
VGG16_MD5 = "64373286793e3c8b2b4e3219cbf3544b"

VGG19_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
             "vgg19_weights_tf_dim_ordering_tf_kernels.h5")
VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels.h5"
VGG19_MD5 = "cbe5617147190e668d6c5d5026f83318"   # keras.applications.vgg19's file_hash


def keras_cache_dir() -> Path:
    """The folder `keras.utils.get_file` caches into (honours $KERAS_HOME)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "models"


def alexnet_weights(*, url: str = ALEXNET_URL, weights_dir: Path | None = None,
                    progress: bool = True) -> Path:
    """Path of `bvlc_alexnet.npy`, downloading it on first use."""
    dest = Path(weights_dir or WEIGHTS_DIR) / ALEXNET_FILE
    try:
        return download_file(url, dest, progress=progress, description="AlexNet weights")
    except DownloadError as exc:
        raise WeightsError(f"AlexNet ImageNet weights unavailable: {exc}") from None


def _keras_application_weights(label: str, filename: str, url: str, file_hash: str, cache_dir: Path | None,
                                formats: str) -> Path:
    cache = Path(cache_dir) if cache_dir else keras_cache_dir()
    dest = cache / filename
    try:
        return Path(keras.utils.get_file(filename, url, file_hash=file_hash,
                                         cache_dir=str(cache.parent), cache_subdir=cache.name))
    except Exception as exc:  # get_file raises a bare Exception on network errors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if dest.exists() and not hash_matches(dest, file_hash):
            dest.unlink()  # never leave a half download that looks like the real file
        raise WeightsError(
            f"{label} ImageNet weights unavailable ({reason}); download {url} by hand and save it "
            f"as {dest}, or pass --weights PATH ({formats})"
        ) from None


def vgg16_weights(*, url: str = VGG16_URL, file_hash: str = VGG16_MD5,
                  cache_dir: Path | None = None) -> Path:
    """Path of the Keras VGG16 ImageNet h5, downloaded and md5-checked by keras.utils.get_file."""
    return _keras_application_weights("VGG16", VGG16_FILE, url, file_hash, cache_dir,
                                      "vgg16.npy, vgg16_weights.npz or a Keras .h5")


def vgg19_weights(*, url: str = VGG19_URL, file_hash: str = VGG19_MD5,
                  cache_dir: Path | None = None) -> Path:
    """Path of the Keras VGG19 ImageNet h5, downloaded and md5-checked by keras.utils.get_file."""
    return _keras_application_weights("VGG19", VGG19_FILE, url, file_hash, cache_dir,
                                      "vgg19.npy or a Keras .h5")


def imagenet_weights(name: str, **kwargs) -> Path:
    """The ImageNet weight file of `name`, fetched if needed."""
    if name == "alexnet":
        return alexnet_weights(**kwargs)
    if name == "vgg16":
        return vgg16_weights(**kwargs)
    if name == "vgg19":
        return vgg19_weights(**kwargs)
    raise ValueError(f"no ImageNet weights known for {name!r}")
