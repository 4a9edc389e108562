"""Network builders (AlexNet, VGG16, VGG19, SqueezeNet 1.1, keras.applications networks by name), the weight
files they load, and any Keras model read from a .keras file. See `build_model` and `open_model`."""
from models.heads import CLASSIFIER, set_trainable
from models.keras_files import (
    LoadedModel,
    ModelFileError,
    is_model_file,
    load_keras_model,
    prepare_model,
    read_class_names,
)
from models.opening import open_model
from models.preprocessing import PREPROCESSING_MODES
from models.registry import (
    ALL_MODEL_NAMES,
    IMAGENET_TORCH,
    KERAS_APPLICATION_NAMES,
    MODEL_NAMES,
    ModelSpec,
    build_model,
    default_train_layers,
    get_spec,
    preprocess_for,
    trainable_layer_names,
)
from models.weight_formats import WeightsError

__all__ = ["ALL_MODEL_NAMES", "CLASSIFIER", "IMAGENET_TORCH", "KERAS_APPLICATION_NAMES", "MODEL_NAMES",
           "PREPROCESSING_MODES", "LoadedModel", "ModelFileError", "ModelSpec", "WeightsError", "build_model",
           "default_train_layers", "get_spec", "is_model_file", "load_keras_model", "open_model", "prepare_model",
           "preprocess_for", "read_class_names", "set_trainable", "trainable_layer_names"]
