"""ImageNet networks of `keras.applications` by name: resnet50, mobilenet_v2, efficientnet_b0,
densenet121, inception_v3, convnext_tiny.

Each is Keras' own builder (same layers, same names, same weight files) with what the programs
need around it:

- logits: built with `classifier_activation=None` (no softmax), the classifier in float32;
- its own preprocessing as a function of RGB 0..255, channels last (the project's convention),
  equal to the network's `keras.applications.<module>.preprocess_input` (caffe for ResNet50,
  tf for MobileNetV2 and InceptionV3, torch for DenseNet121, none for EfficientNet and ConvNeXt,
  which normalise inside the network);
- its default class-map layer: the last 4-D layer before the global pooling. ConvNeXt ends each
  stage with a bare `x + y` (an op named `add_<n>`, the number depending on what was built before
  in the process), which no name can reach: the builder re-runs the graph with an identity layer
  `convnext_tiny_stage_<k>_output` after each stage's last addition (same weights, same outputs);
- `weights="imagenet"`: the h5 of `keras.applications` fetched by `keras.utils.get_file` from the
  same URL, checked against the same hash (MobileNetV2: Keras publishes none), in Keras' cache;
  offline, the one-line message of VGG16 (URL, where to save the file by hand). "random": Keras'
  initialisation, seeded by the caller. A file path: a Keras .h5 / .weights.h5 / .keras of the
  same architecture (a 3a fine-tuning run's `model.weights.h5` included).
- remove_fc=1: the final Dense layer is replaced by a new `classifier` of num_classes units on
  the same pooled features (ConvNeXt keeps its head LayerNorm, EfficientNet its dropout).
  These networks have a single FC layer: remove_fc=2 is refused.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import keras

from models.heads import CLASSIFIER
from models.keras_application_table import (  # noqa: F401  (APPLICATIONS, APPLICATION_NAMES: re-exported)
    APPLICATION_NAMES,
    APPLICATIONS,
    CONVNEXT_STAGES,
    Application,
    get_application,
)
from models.keras_graph import trace
from models.preprocessing import PREPROCESSING_MODES
from models.pretrained import keras_application_weights
from models.weight_formats import WeightsError

IMAGENET_CLASSES = 1000
NETWORK_SIZE = 0          # input_size: the network's own (224, InceptionV3 299); None: any size


def preprocess_function(name: str) -> Callable:
    """The network's preprocessing (RGB 0..255, channels last -> its input)."""
    return PREPROCESSING_MODES[get_application(name).preprocessing]


def keras_preprocess_input(name: str) -> Callable:
    """keras.applications' own `preprocess_input` of the network (for comparison in tests)."""
    module = getattr(keras.applications, get_application(name).module)
    return module.preprocess_input


def _name_convnext_stages(model: keras.Model) -> keras.Model:
    """Re-run ConvNeXt's graph with an identity layer named `convnext_tiny_stage_<k>_output` after
    each stage's last addition (the input of downsampling block k+1, or of the head's pooling)."""
    prefix = model.name
    consumers = [f"{prefix}_downsampling_block_{k}" for k in range(CONVNEXT_STAGES - 1)] + [f"{prefix}_head_gap"]
    stage_ends = {}
    for k, consumer in enumerate(consumers):
        tensor = model.get_layer(consumer).input
        stage_ends[id(tensor._keras_history.operation)] = k

    def replace(path, operation):
        k = stage_ends.get(id(operation))
        if k is None:
            return None
        named = keras.layers.Identity(name=f"{prefix}_stage_{k}_output")
        return lambda *args, **kwargs: named(operation(*args, **kwargs))

    return trace(model, inline=False, replace=replace)[0]


def _constructor(app: Application) -> Callable:
    return getattr(keras.applications, app.constructor)


def _keras_model(app: Application, input_size: int | None, weights: str | Path | None) -> keras.Model:
    """Keras' builder with logits; input_size None: any input size (all of them pool globally)."""
    kwargs = {"weights": None if weights is None else str(weights), "classifier_activation": None}
    if input_size is not None and input_size < app.min_size:
        raise ValueError(f"{app.name} needs an input of at least {app.min_size} px, got {input_size}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # MobileNetV2's "input shape not in [96..224]"
        if input_size is None:
            model = _constructor(app)(input_tensor=keras.Input((None, None, 3)), **kwargs)
        else:
            model = _constructor(app)(input_shape=(input_size, input_size, 3), **kwargs)
    if app.name == "convnext_tiny":
        return _name_convnext_stages(model)
    # input_tensor= leaves the model's inputs a list: rewrap so that model(x) takes a bare tensor.
    return keras.Model(model.inputs[0], model.outputs[0], name=model.name) if input_size is None else model


def _with_new_classifier(model: keras.Model, app: Application, num_classes: int) -> keras.Model:
    """The graph re-run with a new `classifier` Dense in place of the final one (the layers after a
    re-run, ConvNeXt's, have several call sites: `layer.input` would be the wrong one)."""
    head = keras.layers.Dense(num_classes, name=CLASSIFIER, dtype="float32")
    return trace(model, inline=False, replace=lambda path, op: head if op.name == app.fc_layer else None)[0]


def _load_file(model: keras.Model, path: Path, app: Application) -> None:
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        model.load_weights(str(path))
    except Exception as exc:  # Keras raises ValueError, KeyError, OSError... for a file of another model
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path} does not fit {app.name} ({app.label}): {reason}") from None


def build_application(name: str, num_classes: int | None = None, *, weights: str | Path | None = "random",
                      remove_fc: int = 0, dropout: float = 0.5, input_size: int | None = NETWORK_SIZE) -> keras.Model:
    """Build keras.applications' `name` with logits.

    weights: 'imagenet' (fetched by keras.utils.get_file on first use; WeightsUnreachable offline),
    'random' or None (untrained), or a path (a Keras .h5, .weights.h5 or .keras of this network;
    with remove_fc=1, of the network with its new classifier, as 3a saves it).
    remove_fc: 0 keeps the 1000-way ImageNet classifier; 1 replaces it by `classifier`
    (num_classes units, required). input_size: side of the square input (default: the network's
    own, 224 or 299; also NETWORK_SIZE = 0), None for any size. `dropout` is accepted for the registry's signature and
    unused (the networks keep their own dropout, if any).
    """
    del dropout
    app = get_application(name)
    if input_size == NETWORK_SIZE:
        input_size = app.input_size
    if remove_fc not in (0, 1):
        raise ValueError(f"{name} has a single fully connected layer ({app.fc_layer}): remove_fc must be 0 or 1, "
                         f"got {remove_fc}")
    if remove_fc and not num_classes:
        raise ValueError("num_classes is required when remove_fc is 1")
    if not remove_fc and num_classes not in (None, IMAGENET_CLASSES):
        raise ValueError(f"{name} keeps its 1000-way ImageNet classifier with remove_fc=0; "
                         f"use remove_fc=1 for {num_classes} classes")
    path = None
    if weights == "imagenet":
        path = keras_application_weights(name)
    elif weights not in (None, "random"):
        path = Path(weights)
    # ImageNet's file (or a file of the unchanged network) goes into Keras' own model, before any
    # change; a fine-tuned file (remove_fc=1) into the finished model.
    into_keras = path is not None and (weights == "imagenet" or not remove_fc)
    if into_keras and weights != "imagenet" and not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        model = _keras_model(app, input_size, path if into_keras else None)
    except (ValueError, OSError, KeyError) as exc:
        if not into_keras:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path} does not fit {app.name} ({app.label}): {reason}") from None
    if remove_fc:
        model = _with_new_classifier(model, app, num_classes)
        if path is not None and not into_keras:
            _load_file(model, path, app)
    return model


def builder_for(name: str) -> Callable[..., keras.Model]:
    """`build_application` bound to `name` (ModelSpec.builder: takes input_size, None for any size)."""
    get_application(name)

    def builder(num_classes: int | None = None, *, remove_fc: int = 0, dropout: float = 0.5,
                input_size: int | None = NETWORK_SIZE, weights: str | Path | None = "random") -> keras.Model:
        return build_application(name, num_classes, weights=weights, remove_fc=remove_fc, dropout=dropout,
                                 input_size=input_size)

    builder.__name__ = builder.__qualname__ = f"build_{name}"
    builder.__doc__ = f"build_application({name!r}, ...): " + (build_application.__doc__ or "")
    return builder
