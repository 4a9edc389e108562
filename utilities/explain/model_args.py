"""The model flags of the explanation programs: `--model NAME|FILE.keras`, `--weights`, `--preprocess`,
`--class-names` (and the default `--layer` of each network), in one place.

    python assignment_3b.py my_images --model my_model.keras --preprocess tf --class-names classes.txt
    python -m utilities.explain photo.jpg --model resnet50 --method gradcam

`--model` takes a network name (the project's four, or one of the keras.applications networks of
models/keras_applications.py) or a path to a `.keras` model (the whole model, as `model.save`
writes it). An unknown name is one argparse line listing the names (with the closest ones).
`open_network(args)` hands the flags to `models.open_model`, which builds or reads the model and
says which class-map layer and preprocessing it chose and why (`print_notes`).

This module imports no TensorFlow (`--help` stays instant): the names, default layers and
preprocessing modes are copies of models/registry.py's, checked against it by
tests/test_explain_any_model.py.
"""
from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

# models.MODEL_NAMES (the project's networks) and models.KERAS_APPLICATION_NAMES, each with its
# default class-map layer (spec.gradcam_layer).
PROJECT_LAYERS = {"alexnet": "conv5", "vgg16": "block5_conv3", "vgg19": "block5_conv4",
                  "squeezenet": "fire9_concat"}
APPLICATION_LAYERS = {"resnet50": "conv5_block3_out", "mobilenet_v2": "out_relu",
                      "efficientnet_b0": "top_activation", "densenet121": "relu", "inception_v3": "mixed10",
                      "convnext_tiny": "convnext_tiny_stage_3_output"}
GRADCAM_LAYERS = {**PROJECT_LAYERS, **APPLICATION_LAYERS}
MODEL_NAMES = tuple(PROJECT_LAYERS)
ALL_MODEL_NAMES = tuple(GRADCAM_LAYERS)
PREPROCESSING_MODES = ("caffe", "torch", "tf", "unit", "none")   # models.PREPROCESSING_MODES
DEFAULT_WEIGHTS = "imagenet"
MODEL_METAVAR = "MODEL"

MODEL_HELP = ("a network ({names}) or a path to a .keras model file (the whole model, as model.save writes "
              "it; input size, class-map layer and logits are read from it)")
WEIGHTS_HELP = ("for a network: 'imagenet' (the default; downloaded once), 'random' (untrained, for testing) or "
                "a weight file (.npy, .npz, .h5, .weights.h5, .keras, .pth); not with a .keras --model, which "
                "holds its own weights")
PREPROCESS_HELP = ("how the model expects its RGB input: caffe (BGR minus the ImageNet mean), torch (/255, "
                   "ImageNet mean and std), tf (-1..1), unit (0..1), none (0..255 as it is); default: the "
                   "network's own, or what a .keras model tells (required when it cannot tell)")
CLASS_NAMES_HELP = ("text file with one class name per line, in the model's output order (default: ImageNet's "
                    "names for 1000 outputs, else 'class <i>')")


def is_model_file(value: str | Path) -> bool:
    """Whether a --model value names a file rather than a network: the rule of models.is_model_file
    (ends in .keras, has a path separator, or is an existing file)."""
    text = str(value)
    return text.endswith(".keras") or "/" in text or "\\" in text or Path(text).is_file()


class ModelChoices:
    """argparse `choices` for --model: iterates over the network names (usage, docs), and contains
    them and every value that names a file (`is_model_file`)."""

    def __init__(self, names: Iterable[str]):
        self.names = tuple(names)

    def __contains__(self, value: object) -> bool:
        return value in self.names or (isinstance(value, (str, Path)) and is_model_file(value))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def model_value(names: Sequence[str]) -> Callable[[str], str]:
    """argparse `type` for --model: a name of `names` or a file; else one line listing the names."""
    names = tuple(names)

    def model(text: str) -> str:
        if text in names or is_model_file(text):
            return text
        close = difflib.get_close_matches(text.lower(), names, n=3, cutoff=0.6)
        hint = f" (closest: {', '.join(close)})" if close else ""
        raise argparse.ArgumentTypeError(f"unknown network {text!r}{hint}; choose one of {', '.join(names)}, "
                                         f"or give the path of a .keras model file")
    return model


def model_help(names: Sequence[str]) -> str:
    return MODEL_HELP.format(names=", ".join(names))


def layer_defaults(names: Sequence[str] = ALL_MODEL_NAMES) -> str:
    """'conv5 for alexnet, ..., and for a .keras model the last layer with a 4-D output'."""
    return (", ".join(f"{GRADCAM_LAYERS[n]} for {n}" for n in names if n in GRADCAM_LAYERS)
            + "; for a .keras model the last layer with a 4-D output")


def add_model_arguments(parser: argparse.ArgumentParser, names: Sequence[str] = ALL_MODEL_NAMES) -> None:
    """--model, --weights, --preprocess and --class-names, as every explanation program takes them."""
    parser.add_argument("--model", type=model_value(names), choices=ModelChoices(names), default="vgg16",
                        metavar=MODEL_METAVAR, help=model_help(names))
    parser.add_argument("--weights", default=None, help=WEIGHTS_HELP)
    parser.add_argument("--preprocess", choices=PREPROCESSING_MODES, default=None, help=PREPROCESS_HELP)
    parser.add_argument("--class-names", default=None, metavar="FILE", help=CLASS_NAMES_HELP)


# ------------------------------------------------------------------------- opening (TensorFlow)


def weights_label(args: argparse.Namespace) -> str:
    """What weights a run used, for titles and settings: the file's own, or --weights (default imagenet)."""
    if is_model_file(args.model):
        return "the file's own" if args.weights is None else str(args.weights)
    return DEFAULT_WEIGHTS if args.weights is None else str(args.weights)


def known_input_size(args: argparse.Namespace) -> int | None:
    """A named network's input side without building it (so pictures are checked first); None for a
    .keras model (its side is read from the file: see `open_network`). Raises models.WeightsError."""
    if is_model_file(args.model):
        return None
    import models
    return models.get_spec(args.model, DEFAULT_WEIGHTS if args.weights is None else args.weights).input_size


def open_network(args: argparse.Namespace, *, layer: str | None = None, remove_fc: int = 0,
                 num_classes: int | None = None, check_layer: bool = True):
    """`models.open_model` with the flags of `add_model_arguments`: a models.LoadedModel.

    Class names: --class-names; else, for a network fine-tuned by 3a (`num_classes` other than
    ImageNet's 1000), the WikiArt style names as before; else the model's own (ImageNet's for 1000
    outputs, 'class <i>' otherwise). Raises models.WeightsError (models.ModelFileError for a file)
    with one line.
    """
    import models
    from utilities.common.imagenet_classes import NUM_IMAGENET_CLASSES

    names = getattr(args, "class_names", None)
    if names is None and not is_model_file(args.model) and num_classes and num_classes != NUM_IMAGENET_CLASSES:
        from utilities.wikiart.styles import class_names as style_names
        names = style_names(num_classes)
    return models.open_model(args.model, args.weights, preprocessing=getattr(args, "preprocess", None),
                             layer=layer, class_names=names, remove_fc=remove_fc, num_classes=num_classes,
                             check_layer=check_layer)


RANDOM_NOTE = "note: --weights random: untrained network, predictions are meaningless"


def notes(loaded, *, layers: Sequence[str] | None = None, uses_layer: bool = True,
          weights: str | None = None) -> list[str]:
    """The LoadedModel's notes as printed: `note: <model>: <what it chose and why>`.

    `layers`: several class-map layers given at once (they replace the one-layer note);
    `uses_layer` False: the method uses no layer, so no layer note; `weights` 'random': the
    untrained-network warning first."""
    lines = [RANDOM_NOTE] if weights == "random" else []
    for note in loaded.notes:
        if note.startswith("class-map layer"):
            if not uses_layer:
                continue
            if layers and len(layers) > 1:
                note = f"class-map layers: {', '.join(layers)} (given: --layer {','.join(layers)})"
        lines.append(f"note: {loaded.source}: {note}")
    return lines


def print_notes(loaded, echo: Callable[[str], None] | None = None, **options) -> None:
    """Print `notes(loaded, **options)` once per run, one line each, on stderr (stdout keeps each
    program's result lines) unless `echo` is given."""
    import sys
    for line in notes(loaded, **options):
        if echo is None:
            print(line, file=sys.stderr)
        else:
            echo(line)
