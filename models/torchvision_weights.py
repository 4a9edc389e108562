"""torchvision's `vgg16`, `vgg19` and `squeezenet1_1` state dicts in this project's Keras layers.

The PyTorch handouts load `torchvision.models.vgg16(pretrained=True)` or `squeezenet1_1`; their
students have the files (`~/.cache/torch/hub/checkpoints/vgg16-397923af.pth`, ...). A state dict
(read without PyTorch by models/torch_checkpoint.py) maps onto our builders layer for layer:

- VGG: `features.N` are the convolutions (N counts torchvision's Conv2d, ReLU and MaxPool2d
  modules: 0, 2, 5, 7, 10, ...) -> `block1_conv1` ...; `classifier.0`, `.3`, `.6` -> `fc1`,
  `fc2`, `predictions`.
- SqueezeNet 1.1: `features.0` -> `conv1`; `features.3, 4, 6, 7, 9, 10, 11, 12` -> fire2 ... fire9
  (`squeeze`, `expand1x1`, `expand3x3` -> `fireN_squeeze1x1`, ...); `classifier.1` -> `conv10`.

Layouts: a Conv2d weight (out, in, h, w) becomes a Keras kernel (h, w, in, out); a Linear weight
(out, in) becomes (in, out). torchvision flattens VGG's last feature map (512, 7, 7) in CHW order,
Keras' Flatten in HWC order, so fc1's input rows are permuted from CHW to HWC.

What is not converted but reproduced by the builder: torchvision's SqueezeNet pools in ceil mode
(`build_squeezenet(ceil_mode=True)`, input 224), VGG's `AdaptiveAvgPool2d((7, 7))` is the identity
at 224x224 (the builder's fixed input size). The input is RGB / 255 minus mean (0.485, 0.456,
0.406) over std (0.229, 0.224, 0.225) (`models.preprocessing.torch_normalize`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from models import squeezenet, vgg16, vgg19
from models.torch_checkpoint import is_torch_file
from models.weight_formats import Weights, WeightsError

IMAGENET_TORCH = "imagenet-torch"   # the weights value for torchvision's published ImageNet files
# torchvision's own URLs; the 8 hex digits in each name are the start of the file's sha256.
TORCHVISION_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "squeezenet": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}
TORCHVISION_NAMES = {"vgg16": "vgg16", "vgg19": "vgg19", "squeezenet": "squeezenet1_1"}
TORCH_INPUT_SIZE = 224   # torchvision's ImageNet evaluation size (Resize 256, CenterCrop 224)
SQUEEZENET_FIRE_INDEX = {2: 3, 3: 4, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11, 9: 12}   # fire module -> features[i]


def is_torch_weights(weights) -> bool:
    """Whether a `weights` argument means torchvision weights ('imagenet-torch' or a .pth/.pt file)."""
    return weights is not None and (str(weights) == IMAGENET_TORCH or is_torch_file(weights))


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """A torch Conv2d weight (out, in, h, w) as a Keras Conv2D kernel (h, w, in, out)."""
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)))


def dense_kernel(weight: np.ndarray) -> np.ndarray:
    """A torch Linear weight (out, in) as a Keras Dense kernel (in, out)."""
    return np.ascontiguousarray(weight.T)


def chw_to_hwc_rows(kernel: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """Permute a Dense kernel's input rows from a CHW flattening (torch) to HWC (Keras' Flatten).

    Row c*H*W + h*W + w of `kernel` (C*H*W, out) becomes row h*W*C + w*C + c.
    """
    out = kernel.shape[1]
    return np.ascontiguousarray(kernel.reshape(channels, height, width, out).transpose(1, 2, 0, 3).reshape(-1, out))


def vgg_layer_map(blocks) -> dict[str, str]:
    """Our VGG layer name -> torchvision's module path, for `blocks` ((block, convs, filters), ...)."""
    mapping, index = {}, 0
    for block, convs, _ in blocks:
        for i in range(1, convs + 1):
            mapping[f"block{block}_conv{i}"] = f"features.{index}"
            index += 2           # Conv2d, ReLU
        index += 1               # MaxPool2d
    mapping.update({"fc1": "classifier.0", "fc2": "classifier.3", "predictions": "classifier.6"})
    return mapping


def squeezenet_layer_map() -> dict[str, str]:
    """Our SqueezeNet layer name -> torchvision squeezenet1_1's module path."""
    mapping = {"conv1": "features.0"}
    for module, index in SQUEEZENET_FIRE_INDEX.items():
        for ours, theirs in zip(squeezenet.fire_layers(module), ("squeeze", "expand1x1", "expand3x3"), strict=True):
            mapping[ours] = f"features.{index}.{theirs}"
    mapping["conv10"] = "classifier.1"
    return mapping


LAYER_MAPS = {"vgg16": vgg_layer_map(vgg16.BLOCKS), "vgg19": vgg_layer_map(vgg19.BLOCKS),
              "squeezenet": squeezenet_layer_map()}


def _array(state: Mapping[str, np.ndarray], key: str, ndim: int, source: str) -> np.ndarray:
    value = np.asarray(state[key])
    if value.ndim != ndim:
        raise WeightsError(f"{source}: {key} has shape {value.shape}, a {ndim}-D array was expected")
    return value.astype(np.float32, copy=False)


def to_keras_weights(name: str, state: Mapping[str, np.ndarray], *, source: str = "checkpoint") -> Weights:
    """A torchvision state dict of `name` ('vgg16' | 'vgg19' | 'squeezenet') -> `{our layer: [kernel, bias]}`.

    Every key must belong to a layer of the network (an unknown one is named in the WeightsError);
    a layer may be missing (the loader decides whether that is allowed: a removed head).
    Shapes are checked by the one loader (models/loading.py) against the model.
    """
    if name not in LAYER_MAPS:
        raise WeightsError(f"{source}: no torchvision layout is known for {name!r} (torchvision's alexnet is "
                           f"another network than the BVLC one); torchvision checkpoints load into "
                           f"{', '.join(LAYER_MAPS)}")
    mapping = LAYER_MAPS[name]
    known = {f"{module}.{kind}" for module in mapping.values() for kind in ("weight", "bias")}
    unknown = [key for key in state if key not in known]
    if unknown:
        hint = (" (batch-norm statistics: the *_bn variants are other networks)"
                if any(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in unknown) else "")
        shown = ", ".join(unknown[:6]) + (f" and {len(unknown) - 6} more" if len(unknown) > 6 else "")
        raise WeightsError(f"{source}: not a torchvision {TORCHVISION_NAMES[name]} state dict: "
                           f"{shown} belong to no layer of it{hint}")
    out: Weights = {}
    for ours, module in mapping.items():
        weight_key, bias_key = f"{module}.weight", f"{module}.bias"
        if weight_key not in state and bias_key not in state:
            continue
        if weight_key not in state or bias_key not in state:
            raise WeightsError(f"{source}: {module} has only one of weight and bias")
        if module.startswith("classifier") and name != "squeezenet":
            kernel = dense_kernel(_array(state, weight_key, 2, source))
        else:
            kernel = conv_kernel(_array(state, weight_key, 4, source))
        out[ours] = [kernel, _array(state, bias_key, 1, source)]
    if name != "squeezenet" and "fc1" in out:
        out["fc1"][0] = _fc1_rows_to_hwc(out, name, source)
    return out


def _fc1_rows_to_hwc(out: Weights, name: str, source: str) -> np.ndarray:
    """fc1's kernel with its rows in HWC order; C is the last convolution's width, H = W."""
    kernel = out["fc1"][0]
    last_conv = [layer for layer in LAYER_MAPS[name] if "conv" in layer][-1]
    if last_conv not in out:
        raise WeightsError(f"{source}: fc1 is there but not {LAYER_MAPS[name][last_conv]} (needed to unflatten fc1)")
    channels = out[last_conv][0].shape[-1]
    side = math.isqrt(kernel.shape[0] // channels) if kernel.shape[0] % channels == 0 else 0
    if side * side * channels != kernel.shape[0]:
        raise WeightsError(f"{source}: classifier.0 takes {kernel.shape[0]} inputs, not C x H x H of the "
                           f"{channels}-channel feature map")
    return chw_to_hwc_rows(kernel, channels, side, side)
