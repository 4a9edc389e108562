"""`open_model`: one call for whatever `--model` names: a project network, a keras.applications
network, or a `.keras` file. It returns a `LoadedModel` (models/keras_files.py): the model with
logits, its ModelSpec, the class-map layer and why, the preprocessing and why, class names.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from models.keras_files import (
    LAYER_FLAG,
    PREPROCESS_FLAG,
    LoadedModel,
    ModelFileError,
    is_model_file,
    load_keras_model,
    read_class_names,
)
from models.keras_graph import LayerLookupError, calls_of, resolve_layer
from models.preprocessing import PREPROCESSING_MODES
from models.registry import IMAGENET_CLASSES, build_model, get_spec

WEIGHTS_FLAG = "--weights"


def open_model(model: str | Path, weights: str | Path | None = None, *, preprocessing: str | None = None,
               layer: str | None = None, class_names: str | Path | Sequence[str] | None = None,
               remove_fc: int = 0, num_classes: int | None = None, input_size: int | None = None,
               check_layer: bool = True) -> LoadedModel:
    """Build or read `model` and say how to feed and explain it.

    model: a name from models.ALL_MODEL_NAMES, or a .keras file (`is_model_file`).
    weights: for a name, as build_model takes them (None: 'imagenet'); for a file, must be None
    (the file holds its weights). preprocessing: overrides a named network's own (said in the
    reason); required for a file that does not tell. layer: the class-map layer (checked to be
    4-D unless check_layer is False); default the network's own (spec.gradcam_layer) or, for a
    file, the last 4-D layer. remove_fc / num_classes: a fine-tuned named network (3a); not for a
    file. input_size: a named network's input side (keras.applications ones only; their own by
    default); for a file, the side to feed a model that takes any size.
    Raises ModelFileError / WeightsError (one line) for what the user gave, ValueError for an
    unknown network name.
    """
    if is_model_file(model):
        if weights is not None:
            raise ModelFileError(f"{WEIGHTS_FLAG} {weights}: a .keras model holds its own weights; leave "
                                 f"{WEIGHTS_FLAG} out with --model {model}")
        if remove_fc:
            raise ModelFileError(f"--remove-fc {remove_fc}: a .keras model is used as it was saved; leave "
                                 f"--remove-fc out with --model {model}")
        loaded = load_keras_model(model, preprocessing=preprocessing, layer=layer, class_names=class_names,
                                  input_size=input_size)
        if num_classes is not None and num_classes != loaded.num_classes:
            raise ModelFileError(f"--num-classes {num_classes}: {model} has {loaded.num_classes} outputs")
        return loaded
    name = str(model)
    weights = "imagenet" if weights is None else weights
    spec = get_spec(name, weights)
    options = {"input_size": input_size} if input_size is not None else {}
    if options and "input_size" not in inspect.signature(spec.builder).parameters:
        raise ValueError(f"{name} is built for {spec.input_size} px only; input_size does not apply")
    network = build_model(name, weights, remove_fc=remove_fc, num_classes=num_classes, **options)
    if input_size is not None:
        spec = replace(spec, input_size=input_size)
    mode_reason = f"{name}'s own" + (f" with {weights} weights" if spec.preprocessing == "torch" else "")
    if preprocessing is not None and preprocessing != spec.preprocessing:
        if preprocessing not in PREPROCESSING_MODES:
            raise ModelFileError(f"{PREPROCESS_FLAG} {preprocessing}: unknown; choose one of "
                                 f"{', '.join(PREPROCESSING_MODES)}")
        mode_reason = f"given by {PREPROCESS_FLAG} {preprocessing}; {name}'s own is {spec.preprocessing}"
        spec = replace(spec, preprocess=PREPROCESSING_MODES[preprocessing], preprocessing=preprocessing)
    if layer:
        if check_layer:
            try:
                chosen = resolve_layer(calls_of(network), layer, network.name)
            except LayerLookupError as exc:
                raise ModelFileError(f"{LAYER_FLAG} {layer}: {exc}") from None
            if not chosen.spatial:
                raise ModelFileError(f"{LAYER_FLAG} {layer}: its output is not a 4-D feature map "
                                     f"(batch, height, width, channels)")
        spec = replace(spec, gradcam_layer=layer)
        layer_reason = f"given by {LAYER_FLAG} {layer}"
    else:
        layer_reason = f"{name}'s default"
    outputs = num_classes or IMAGENET_CLASSES
    names = read_class_names(class_names, outputs)
    logits_note = "outputs are logits (built without a softmax)"
    notes = (f"class-map layer: {spec.gradcam_layer} ({layer_reason})",
             f"preprocessing: {spec.preprocessing} ({mode_reason})")
    return LoadedModel(network, spec, spec.gradcam_layer, layer_reason, spec.preprocessing, mode_reason,
                       logits_note, names, name, True, notes)
