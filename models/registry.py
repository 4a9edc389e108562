"""`build_model`: one entry point for every network, weight source and remove-fc setting."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras

from models import alexnet, squeezenet, vgg16, vgg19
from models.heads import CLASSIFIER
from models.heads import default_train_layers as _default_train_layers
from models.keras_applications import APPLICATION_NAMES, APPLICATIONS, build_application, builder_for
from models.loading import assign_weights
from models.preprocessing import PREPROCESSING_MODES, torch_normalize
from models.pretrained import imagenet_weights, torchvision_imagenet_weights
from models.torch_checkpoint import is_torch_file, read_state_dict
from models.torchvision_weights import IMAGENET_TORCH, LAYER_MAPS, TORCH_INPUT_SIZE, is_torch_weights, to_keras_weights
from models.weight_formats import WeightsError, read_weight_file, to_keras_vgg_names

IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class ModelSpec:
    """What callers need to feed a network: input size, preprocessing, notable layers."""

    name: str
    input_size: int
    preprocess: Callable
    fc_layers: tuple[str, ...]
    conv_layers: tuple[str, ...]
    gradcam_layer: str
    builder: Callable[..., keras.Model]
    # "caffe": RGB 0..255 -> BGR minus the ImageNet mean (Keras/Caffe weights);
    # "torch": RGB / 255, minus mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225) (torchvision weights)
    # "tf": RGB scaled to -1..1; "unit": RGB / 255; "none": RGB 0..255 as it is (the network normalises
    # inside); see models/preprocessing.py PREPROCESSING_MODES
    preprocessing: str = "caffe"


SPECS = {
    "alexnet": ModelSpec("alexnet", alexnet.INPUT_SIZE, alexnet.preprocess_input, alexnet.FC_LAYERS,
                         alexnet.CONV_LAYERS, "conv5", alexnet.build_alexnet),
    "vgg16": ModelSpec("vgg16", vgg16.INPUT_SIZE, vgg16.preprocess_input, vgg16.FC_LAYERS,
                       vgg16.CONV_LAYERS, "block5_conv3", vgg16.build_vgg16),
    "vgg19": ModelSpec("vgg19", vgg19.INPUT_SIZE, vgg19.preprocess_input, vgg19.FC_LAYERS,
                       vgg19.CONV_LAYERS, "block5_conv4", vgg19.build_vgg19),
    # fc_layers: SqueezeNet's classifier is one 1x1 convolution, `conv10`.
    "squeezenet": ModelSpec("squeezenet", squeezenet.INPUT_SIZE, squeezenet.preprocess_input,
                            squeezenet.FC_LAYERS, squeezenet.CONV_LAYERS, squeezenet.GRADCAM_LAYER,
                            squeezenet.build_squeezenet),
}
MODEL_NAMES = tuple(SPECS)   # the project's own networks (the programs' --model choices today)
# keras.applications networks by name (models/keras_applications.py): conv_layers are their stage
# outputs, fc_layers their one classifier layer.
KERAS_APPLICATION_SPECS = {
    name: ModelSpec(name, app.input_size, PREPROCESSING_MODES[app.preprocessing], (app.fc_layer,),
                    app.feature_layers, app.class_map_layer, builder_for(name), app.preprocessing)
    for name, app in APPLICATIONS.items()
}
KERAS_APPLICATION_NAMES = APPLICATION_NAMES
ALL_MODEL_NAMES = MODEL_NAMES + KERAS_APPLICATION_NAMES


def get_spec(name: str, weights: str | Path | None = None) -> ModelSpec:
    """The ModelSpec of a network by name ('alexnet', 'vgg16', 'vgg19', 'squeezenet', or one of
    KERAS_APPLICATION_NAMES: 'resnet50', 'mobilenet_v2', ...) for the given `weights`.

    The project's networks: the preprocessing goes with the weights' origin: torchvision weights
    ('imagenet-torch' or a .pth/.pt file) get torchvision's (`preprocessing == "torch"`, input 224);
    every other value (None, 'imagenet', 'random', a Keras/Caffe file) the caffe-style default.
    keras.applications networks: their own preprocessing whatever the weights; torchvision weights
    are refused (WeightsError).
    """
    if name in KERAS_APPLICATION_SPECS:
        if is_torch_weights(weights):
            raise WeightsError(f"{weights}: torchvision weights load into {', '.join(LAYER_MAPS)}, not {name!r} "
                               f"(a keras.applications network takes 'imagenet', 'random' or a Keras file)")
        return KERAS_APPLICATION_SPECS[name]
    try:
        spec = SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(ALL_MODEL_NAMES)}") from None
    if not is_torch_weights(weights):
        return spec
    if name not in LAYER_MAPS:
        raise WeightsError(f"{weights}: torchvision weights load into {', '.join(LAYER_MAPS)}, not {name!r} "
                           f"(torchvision's alexnet is another network than the BVLC one)")
    return replace(spec, input_size=TORCH_INPUT_SIZE, preprocess=torch_normalize, preprocessing="torch")


def preprocess_for(name: str, weights: str | Path | None = None) -> Callable:
    """The preprocessing (RGB 0..255, channels last -> the network's input) that goes with `weights`."""
    return get_spec(name, weights).preprocess


def _read_for(name: str, path: Path) -> dict:
    if is_torch_file(path):
        return to_keras_weights(name, read_state_dict(path), source=str(path))
    weights = read_weight_file(path)
    if name == "vgg19":
        return {vgg19.CAFFE_TO_KERAS.get(layer, layer): arrays for layer, arrays in weights.items()}
    return to_keras_vgg_names(weights) if name == "vgg16" else weights


def build_model(name: str, weights: str | Path | None = "imagenet", *, remove_fc: int = 0,
                num_classes: int | None = None, dropout: float = 0.5, **options) -> keras.Model:
    """Build `name` ('alexnet' | 'vgg16' | 'vgg19' | 'squeezenet' | a KERAS_APPLICATION_NAMES
    network, see models/keras_applications.py `build_application`) and load `weights`.

    weights: "imagenet" (downloaded on first use), "imagenet-torch" (torchvision's ImageNet
    checkpoint: VGG16, VGG19, SqueezeNet), "random" (explicitly untrained) or a path to any
    supported weight file (see models/weight_formats.py; .pth/.pt: a torchvision state dict,
    models/torchvision_weights.py). Torchvision weights need torchvision's preprocessing
    (`get_spec(name, weights)`) and make SqueezeNet pool in ceil mode at input 224. remove_fc=1 or 2
    replaces the last one or two FC layers by a new `classifier` of `num_classes` units
    (default 1000 with remove_fc=0, required otherwise); SqueezeNet takes remove_fc=1 only
    (its `conv10` becomes a 1x1 convolution `classifier`). `options` go to the builder
    (AlexNet: lrn_order, grouped_conv; SqueezeNet: input_size, None for any size). The output is logits.
    """
    spec = get_spec(name, weights)
    if name in KERAS_APPLICATION_SPECS:
        return build_application(name, num_classes, weights=weights, remove_fc=remove_fc, dropout=dropout,
                                 **options)
    if spec.preprocessing == "torch" and name == "squeezenet":
        options = {"ceil_mode": True, "input_size": TORCH_INPUT_SIZE, **options}
    if remove_fc and not num_classes:
        raise ValueError("num_classes is required when remove_fc is 1 or 2")
    num_classes = num_classes or IMAGENET_CLASSES
    model = spec.builder(num_classes, remove_fc=remove_fc, dropout=dropout, **options)
    if weights is None or weights == "random":
        return model
    if weights == "imagenet":
        path = imagenet_weights(name)
    elif weights == IMAGENET_TORCH:
        path = torchvision_imagenet_weights(name)
    else:
        path = Path(weights)
    removed = spec.fc_layers[len(spec.fc_layers) - remove_fc:] if remove_fc else ()
    # A fresh head may be missing from the file (ImageNet weights) or present (a fine-tuned
    # model saved by us); a 1000-way last layer with a different class count stays fresh.
    optional = [CLASSIFIER] if remove_fc else ([spec.fc_layers[-1]] if num_classes != IMAGENET_CLASSES else [])
    assign_weights(model, _read_for(name, path), source=str(path), optional=optional,
                   ignore=[*removed, CLASSIFIER])
    return model


def default_train_layers(name: str, remove_fc: int) -> list[str]:
    """The layers fine-tuned by default: the new head and the FC layer (SqueezeNet: fire module) below it."""
    if name == "squeezenet":
        return squeezenet.default_train_layers(remove_fc)
    if name in KERAS_APPLICATION_SPECS:   # one FC layer: the head alone
        return [CLASSIFIER] if remove_fc else list(get_spec(name).fc_layers)
    return _default_train_layers(get_spec(name).fc_layers, remove_fc)


def trainable_layer_names(model: keras.Model) -> Sequence[str]:
    """Names of the layers whose weights will be updated."""
    return [layer.name for layer in model.layers if layer.trainable and layer.trainable_weights]


__all__ = ["ALL_MODEL_NAMES", "IMAGENET_TORCH", "KERAS_APPLICATION_NAMES", "ModelSpec", "build_model", "get_spec",
           "preprocess_for", "default_train_layers", "MODEL_NAMES", "WeightsError"]
