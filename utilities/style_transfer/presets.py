"""Per-network default layers and loss weights: neural-style's for VGG, the CS231n/CS7643 handout's for SqueezeNet.

The handouts (CS231n "StyleTransfer-PyTorch", CS7643 A3 part II; PyTorch, torchvision's
`squeezenet1_1.features`) run their first example, Composition VII + Tubingen, with

    content_layer 3, content_weight 5e-2, style_layers (1, 4, 6, 7),
    style_weights (20000, 500, 12, 1), tv_weight 5e-2, image_size 192, style_size 512

and Adam on the image (lr 3, 200 iterations, lr 0.1 from iteration 180). The indices name
`features` modules: 1 the ReLU after conv1, 3 fire2, 4 fire3, 6 fire4, 7 fire5
(`models.squeezenet.TORCHVISION_FEATURES` gives our layer names).

Those weights were tuned for torchvision's input, RGB/255 minus the ImageNet mean divided by its
std (about 0.226, i.e. 57.6 pixel levels per unit); our SqueezeNet takes caffe-space pixels
(0..255 BGR minus the mean). The loss forms are the same (losses.py: content w*sum((F-P)^2),
style sum_l w_l*sum((G_l-A_l)^2) with G = F^T F/(H*W*C), TV w*sum of squared neighbour
differences), so only the scale of the features and of the pixels differs:

- pixels: ours are PIXEL_STD = 57.6 times the handout's, so the TV term (squared pixel
  differences) is PIXEL_STD^2 times larger: w_tv = 5e-2 / 57.6^2;
- features: for a ReLU network whose biases are small, the maps scale about linearly with the
  input. FEATURE_SCALE[layer] is the measured ratio of the real SqueezeNet's maps on a caffe
  picture to its maps on the same picture divided by PIXEL_STD (RMS over the map; chelsea at 192
  and The Scream at 512, which agree within 3%; biases make it less than 57.6 and falling with
  depth). The content term is quadratic in the features, a Gram matrix too, so its squared
  difference is quartic: w_c = 5e-2 / s_content^2, w_l = w_l(handout) / s_l^4.

That conversion alone is not enough: on chelsea x The Scream (192 px, L-BFGS, 100 iterations) it
leaves the photo almost untouched (style loss 367 -> 211). The two networks were trained apart
(ours converted from DeepScale's Caffe model, torchvision's retrained in PyTorch) and their maps
differ by more than the input scale; torchvision's weights are not available here to measure
it. STYLE_CALIBRATION multiplies the converted style weights: of 1, 10, 100, 1000 (the grid in
docs), 100 is the smallest that paints the photo in the style's colours and strokes while the
subject stays recognisable, as the handout's figures do. (In feature terms: torchvision's style
maps ~100^(1/4) = 3.2 times ours / FEATURE_SCALE.)

The handout's weights are sums, not means: the content and TV terms grow with the picture's
area while the normalised Gram matrices do not. The preset's content and TV weights are those
of its own size (long side 192 here; the handout's 192 is its short side); at another
--image-size `resolve` multiplies them by (192 / image size)^2, so the balance stays the one
of the preset at any size (as neural-style's per-element defaults do for VGG).
tests/test_style_transfer_squeezenet.py re-measures FEATURE_SCALE on the real weights.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# torchvision/ImageNet std in pixel levels: 255 * mean(0.229, 0.224, 0.225)
PIXEL_STD = 255.0 * (0.229 + 0.224 + 0.225) / 3
# our map / map of (picture / PIXEL_STD), real SqueezeNet 1.1 weights (see the module docstring)
FEATURE_SCALE = {"conv1": 53.5, "fire2_concat": 48.3, "fire3_concat": 44.1, "fire4_concat": 43.7,
                 "fire5_concat": 43.1}
STYLE_CALIBRATION = 100.0


@dataclass(frozen=True)
class Preset:
    """Default layers, loss weights (our sum form, our input scale) and sizes for one network."""

    model: str
    content_layer: str
    style_layers: tuple[str, ...]
    content_weight: float | None   # None: the neural-style default of objective.reference_weights
    style_weights: tuple[float, ...] | None
    tv_weight: float | None
    image_size: int
    style_size: int | None         # None: the style picture is scaled like the content
    source: str


def _handout_squeezenet() -> Preset:
    from_torchvision = {1: "conv1", 3: "fire2_concat", 4: "fire3_concat", 6: "fire4_concat", 7: "fire5_concat"}
    content = from_torchvision[3]
    style = tuple(from_torchvision[i] for i in (1, 4, 6, 7))
    handout_style_weights = (20000.0, 500.0, 12.0, 1.0)
    return Preset(
        model="squeezenet", content_layer=content, style_layers=style,
        content_weight=_round(5e-2 / FEATURE_SCALE[content] ** 2),
        style_weights=tuple(_round(STYLE_CALIBRATION * w / FEATURE_SCALE[name] ** 4)
                            for w, name in zip(handout_style_weights, style, strict=True)),
        tv_weight=_round(5e-2 / PIXEL_STD ** 2), image_size=192, style_size=512,
        source="CS231n/CS7643 style transfer (SqueezeNet 1.1): content layer 3 (fire2), content weight 5e-2, "
               "style layers (1, 4, 6, 7) (conv1, fire3, fire4, fire5) with weights (20000, 500, 12, 1), "
               "TV 5e-2, image size 192, style size 512; weights converted from torchvision's input scale "
               "to caffe pixels, style x100 (utilities/style_transfer/presets.py)")


def _handout_squeezenet_exact() -> Preset:
    """The handout's numbers as they are: for torchvision's SqueezeNet with torchvision's preprocessing."""
    converted = _handout_squeezenet()
    return dataclasses.replace(
        converted, content_weight=5e-2, style_weights=(20000.0, 500.0, 12.0, 1.0), tv_weight=5e-2,
        source="CS231n/CS7643 style transfer (SqueezeNet 1.1) exactly: content layer 3 (fire2), content weight "
               "5e-2, style layers (1, 4, 6, 7) (conv1, fire3, fire4, fire5) with weights (20000, 500, 12, 1), "
               "TV 5e-2, image size 192, style size 512 (torchvision weights and preprocessing, as the handout)")


def _round(value: float) -> float:
    return float(f"{value:.3g}")


# VGG16/VGG19 (neural-style's relu4_2 and relu1_1 ... relu5_1)
CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
_NEURAL_STYLE = "neural-style (Johnson): relu4_2 content, relu1_1..relu5_1 style, default weights"

PRESETS = {
    "vgg16": Preset("vgg16", CONTENT_LAYER, STYLE_LAYERS, None, None, None, 512, None, _NEURAL_STYLE),
    "vgg19": Preset("vgg19", CONTENT_LAYER, STYLE_LAYERS, None, None, None, 512, None, _NEURAL_STYLE),
    "squeezenet": _handout_squeezenet(),
}


def preset_for(model: str, weights: str | None = None) -> Preset:
    """The default layers, weights and sizes of `model` with `weights`.

    torchvision's SqueezeNet ('imagenet-torch' or a .pth file) takes torchvision's preprocessing,
    the handout's own input scale: its preset is the handout's numbers unconverted.
    """
    if model == "squeezenet" and weights is not None:
        import models

        if models.get_spec(model, weights).preprocessing == "torch":
            return _handout_squeezenet_exact()
    try:
        return PRESETS[model]
    except KeyError:
        raise ValueError(f"no style-transfer preset for {model!r}; choose one of {', '.join(PRESETS)}") from None


def resolve(settings):
    """`settings` (a TransferSettings) with what the user left unset taken from its model's preset.

    Layers and sizes left None come from the preset. The preset's content weight applies only
    to its own content layer, its style weights only to its own style layers (any other choice
    keeps neural-style's per-layer defaults, objective.reference_weights); its TV weight applies
    whenever none is given. Content and TV weights are scaled by (preset size / image size)^2.
    Returns (settings, the names of the fields the preset filled).
    """
    preset = preset_for(settings.model, settings.weights)
    changes = {}
    if settings.content_layer is None:
        changes["content_layer"] = preset.content_layer
    if settings.style_layers is None:
        changes["style_layers"] = preset.style_layers
    content_layer = changes.get("content_layer", settings.content_layer)
    style_layers = tuple(changes.get("style_layers", settings.style_layers))
    if settings.image_size is None:
        changes["image_size"] = preset.image_size
    # content and TV are sums over the picture: per unit area, the preset's balance at any size
    area = (preset.image_size / changes.get("image_size", settings.image_size)) ** 2
    if settings.content_weight is None and preset.content_weight is not None and content_layer == preset.content_layer:
        changes["content_weight"] = _round(preset.content_weight * area)
    if settings.style_weights is None and preset.style_weights is not None and style_layers == preset.style_layers:
        changes["style_weights"] = preset.style_weights
    if settings.tv_weight is None and preset.tv_weight is not None:
        changes["tv_weight"] = _round(preset.tv_weight * area)
    if settings.style_size is None and preset.style_size is not None:
        changes["style_size"] = preset.style_size
    return dataclasses.replace(settings, **changes), tuple(changes)
