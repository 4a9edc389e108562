"""Network builders (AlexNet, VGG16, VGG19, SqueezeNet 1.1) and the weight files they load. See `build_model`."""
from models.heads import CLASSIFIER, set_trainable
from models.registry import (
    IMAGENET_TORCH,
    MODEL_NAMES,
    ModelSpec,
    build_model,
    default_train_layers,
    get_spec,
    preprocess_for,
    trainable_layer_names,
)
from models.weight_formats import WeightsError

__all__ = ["CLASSIFIER", "IMAGENET_TORCH", "MODEL_NAMES", "ModelSpec", "WeightsError", "build_model",
           "default_train_layers", "get_spec", "preprocess_for", "set_trainable", "trainable_layer_names"]
