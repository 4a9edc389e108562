"""A user's own model from a `.keras` file (what `model.save("model.keras")` writes), ready for the
programs: logits out, its input size, its preprocessing, its class-map layer, its class names.

    loaded = load_keras_model("my_model.keras", preprocessing="tf")
    loaded.model, loaded.spec.input_size, loaded.spec.preprocess, loaded.layer, loaded.class_names
    for line in loaded.notes: print(line)       # which layer, which preprocessing, softmax split off

What is read and how (each "cannot" is a one-line ModelFileError, a WeightsError, naming the file):

- The file is opened by Keras with safe mode on (`keras.saving.load_model(path, safe_mode=True,
  compile=False)`): nothing in the file is run. A Lambda layer (Python bytecode in the file) is
  refused before Keras is asked, by reading `config.json` out of the zip.
- Input: one, (batch, height, width, 1 or 3), channels last, square (or any size: then
  `input_size`, default 224). A one-channel model gets the image turned to gray first.
- Output: one, (batch, classes). A final softmax is split off (Dense(..., activation="softmax"),
  Activation("softmax"), Softmax(), keras.ops.softmax): the programs need logits. A copy of that
  last layer with a linear activation and the same weights replaces it; the rest is shared.
- Nested models (a keras.applications base as one layer of a Sequential or functional model)
  are flattened into one functional model of the same layers (same weights, leaf names), so the
  class-map layer inside the base is a plain layer of the model. Where two layers share a name
  the model stays nested and layers are named by path (`base/conv5_block3_out`).
- Preprocessing (`models.preprocessing.PREPROCESSING_MODES`: caffe | torch | tf | unit | none):
  the `preprocessing` argument; else found when the file tells: a model that starts with a
  Rescaling or Normalization layer takes RGB 0..255 ('none'), a keras.applications network saved
  whole or called first on the input gets that network's own; else ModelFileError naming
  --preprocess.
- Class-map layer: the `layer` argument (a name or 'base/name' path), else the last layer with a
  4-D output; `layer_reason` says which.
- Class names: `class_names` (a file of one name per line, or a list), else ImageNet's for 1,000
  outputs, else "class <i>".
"""
from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras

from models.keras_graph import (
    SOFTMAX,
    Call,
    LayerLookupError,
    final_activation,
    last_spatial_layer,
    nested_calls,
    resolve_layer,
    spatial_layers,
    trace,
    without_activation,
)
from models.preprocessing import PREPROCESSING_HELP, PREPROCESSING_MODES, preprocessing_function
from models.weight_formats import WeightsError

DEFAULT_INPUT_SIZE = 224
CONFIG_MEMBER = "config.json"
CONFIG_LIMIT = 64 << 20           # bytes of config.json read at most
PREPROCESS_FLAG = "--preprocess"
LAYER_FLAG = "--layer"
CLASS_NAMES_FLAG = "--class-names"
# Layers that leave an image's values alone in inference, looked through to find the first real one.
_PASS_THROUGH = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                 "RandomBrightness", "RandomCrop", "Resizing", "CenterCrop", "Dropout", "GaussianNoise",
                 "InputLayer", "Identity")
_SCALES_ITSELF = ("Rescaling", "Normalization")
# keras.applications model names (as Keras names them) -> preprocessing. Networks that normalise
# inside (EfficientNet, ConvNeXt, MobileNetV3, RegNet) start with a Rescaling/Normalization layer.
_KERAS_NAMES = (
    (r"resnet(50|101|152)", "caffe"), (r"vgg(16|19)", "caffe"),
    (r"resnet(50|101|152)v2", "tf"), (r"mobilenetv2_.*", "tf"), (r"mobilenet_.*", "tf"),
    (r"inception_v3", "tf"), (r"inception_resnet_v2", "tf"), (r"xception", "tf"), (r"NASNet", "tf"),
    (r"densenet(121|169|201)", "torch"),
)


class ModelFileError(WeightsError):
    """A .keras file that cannot be read, is refused (unsafe), or does not fit the programs; one line."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for the programs, and why each choice was made (for the program to print)."""

    model: keras.Model                 # one image input, logits out
    spec: object                       # models.ModelSpec: input_size, preprocess, gradcam_layer, ...
    layer: str                         # the class-map layer (== spec.gradcam_layer), as the model names it
    layer_reason: str                  # "given by --layer X" or "the last layer with a 4-D ... output"
    preprocessing: str                 # caffe | torch | tf | unit | none
    preprocessing_reason: str
    logits_note: str                   # softmax split off, or outputs taken as they are
    class_names: tuple[str, ...]
    source: str                        # the file (or network name)
    flattened: bool = True             # nested models flattened (else layers named by path)
    notes: tuple[str, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------ the file

def _read_config(path: Path) -> dict:
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a .keras model file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF"):
        raise ModelFileError(f"{path} is an HDF5 file (a legacy .h5 model or a weights file), not a .keras model; "
                             f"re-save the model with model.save('model.keras'), or give weights with --weights "
                             f"to a named --model")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a .keras model file (the zip archive model.save('model.keras') "
                             f"writes)")
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo(CONFIG_MEMBER)
            except KeyError:
                raise ModelFileError(f"{path} is a zip archive without {CONFIG_MEMBER}: not a .keras model file "
                                     f"(save the whole model with model.save('model.keras'))") from None
            if info.file_size > CONFIG_LIMIT:
                raise ModelFileError(f"{path}: {CONFIG_MEMBER} is {info.file_size} bytes, more than a model's "
                                     f"configuration ({CONFIG_LIMIT} allowed)")
            with archive.open(info) as stream:
                data = stream.read(CONFIG_LIMIT + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a readable .keras archive ({_one_line(exc)})") from None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: {CONFIG_MEMBER} is not valid JSON ({_one_line(exc)})") from None


def _lambda_layers(config) -> list[str]:
    """Names of the Lambda layers anywhere in a Keras config (nested models included)."""
    found = []
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            inner = config.get("config")
            found.append(inner.get("name", "?") if isinstance(inner, dict) else "?")
        for value in config.values():
            found += _lambda_layers(value)
    elif isinstance(config, list):
        for value in config:
            found += _lambda_layers(value)
    return found


def _unsafe_message(path: Path, what: str) -> str:
    return (f"{path} refused: {what}, Python code stored in the file that loading would run (Keras safe mode "
            f"stays on); rebuild the model without Lambda layers (keras.layers or keras.ops) and save it again")


def _load(path: Path) -> keras.Model:
    config = _read_config(path)
    lambdas = _lambda_layers(config)
    if lambdas:
        shown = ", ".join(f"'{name}'" for name in lambdas[:3]) + (", ..." if len(lambdas) > 3 else "")
        raise ModelFileError(_unsafe_message(path, f"it holds Lambda layer(s) {shown}"))
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError... for a bad file
        text = str(exc)
        if "safe_mode" in text or "unsafe" in text.lower():
            raise ModelFileError(_unsafe_message(path, "it holds a lambda function")) from None
        missing = re.search(r"Could not (?:locate (?:class|function)|deserialize) '([^']+)'", text)
        if missing:
            raise ModelFileError(f"{path} uses '{missing.group(1)}', which is not part of Keras: the programs "
                                 f"load models made of Keras' own layers only") from None
        raise ModelFileError(f"{path}: Keras cannot load the model ({_one_line(exc)})") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(f"{path} holds a {type(model).__name__}, not a model")
    return model


# ------------------------------------------------------------------------------------ checks

def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _check_io(model: keras.Model, path: str) -> tuple[tuple, tuple]:
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ModelFileError(f"{path}: the model has no fixed graph (a subclassed model that was never built); "
                             f"save a functional or Sequential model")
    if len(inputs) != 1:
        raise ModelFileError(f"{path}: the model has {len(inputs)} inputs; the programs feed one image")
    if len(outputs) != 1:
        raise ModelFileError(f"{path}: the model has {len(outputs)} outputs; the programs explain one output "
                             f"of class scores (batch, classes)")
    in_shape, out_shape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    if len(in_shape) != 4 or in_shape[-1] not in (1, 3):
        raise ModelFileError(f"{path}: the model's input has shape {_shape_text(in_shape)}; the programs feed "
                             f"images (batch, height, width, 1 or 3 channels), channels last")
    if len(out_shape) != 2:
        raise ModelFileError(f"{path}: the model's output has shape {_shape_text(out_shape)}, not class scores "
                             f"(batch, classes)")
    return in_shape, out_shape


def _input_size(in_shape: tuple, path: str, input_size: int | None) -> tuple[int, str | None]:
    height, width = in_shape[1], in_shape[2]
    if height is None or width is None:
        if height != width and (height or width):
            raise ModelFileError(f"{path}: the model's input {_shape_text(in_shape)} fixes one side only")
        size = input_size or DEFAULT_INPUT_SIZE
        return size, f"the model takes any input size; images are fed at {size}x{size}"
    if height != width:
        raise ModelFileError(f"{path}: the model's input is {height}x{width}, not square; the programs feed "
                             f"square images")
    if input_size and input_size != height:
        raise ModelFileError(f"{path}: the model's input is {height}x{width}, not {input_size}")
    return height, None


# ------------------------------------------------------------------------------------ preprocessing

def _first_operation(model: keras.Model):
    """The first operation after the input, looking through layers that leave values alone in
    inference (augmentation, Resizing, Dropout); None when the graph branches right away."""
    if isinstance(model, keras.Sequential):
        return next((layer for layer in model.layers if type(layer).__name__ not in _PASS_THROUGH), None)
    own = {id(op) for op in model.operations}
    operation = model.inputs[0]._keras_history.operation
    for _ in range(64):
        consumers = {id(node.operation): node.operation for node in getattr(operation, "_outbound_nodes", [])
                     if node.operation is not None and id(node.operation) in own}
        if len(consumers) != 1:
            return None
        operation = next(iter(consumers.values()))
        if type(operation).__name__ not in _PASS_THROUGH:
            return operation
    return None


def _keras_application_mode(name: str) -> str | None:
    for pattern, mode in _KERAS_NAMES:
        if re.fullmatch(pattern, name):
            return mode
    return None


def infer_preprocessing(model: keras.Model) -> tuple[str, str] | None:
    """(mode, reason) when the model tells what it expects, else None (see the module docstring)."""
    found = _infer(model, depth=0)
    return (found[0], f"the model {found[1]}") if found else None


def _infer(model: keras.Model, depth: int) -> tuple[str, str] | None:
    first = _first_operation(model)
    if first is not None and type(first).__name__ in _SCALES_ITSELF:
        return "none", f"starts with a {type(first).__name__} layer ('{first.name}'): it scales RGB 0..255 itself"
    mode = _keras_application_mode(model.name)
    if mode:
        return mode, f"is keras.applications' {model.name}, whose preprocess_input is '{mode}'"
    if isinstance(first, keras.Model) and depth < 8:
        inner = _infer(first, depth + 1)
        if inner:
            return inner[0], f"starts with '{first.name}', which {inner[1]}"
    return None


def _preprocessing(model: keras.Model, given: str | None, path: str) -> tuple[str, str]:
    if given is not None:
        if given not in PREPROCESSING_MODES:
            raise ModelFileError(f"{PREPROCESS_FLAG} {given}: unknown; choose one of "
                                 f"{', '.join(PREPROCESSING_MODES)}")
        return given, f"given by {PREPROCESS_FLAG} {given}"
    inferred = infer_preprocessing(model)
    if inferred:
        return inferred
    modes = "; ".join(f"{mode}: {text}" for mode, text in PREPROCESSING_HELP.items())
    raise ModelFileError(f"{path}: cannot tell how the model expects its input; pass {PREPROCESS_FLAG} "
                         f"{{{','.join(PREPROCESSING_MODES)}}} as it was trained ({modes})")


# ------------------------------------------------------------------------------------ class names

def read_class_names(source: str | Path | Sequence[str] | None, num_classes: int) -> tuple[str, ...]:
    """Class names: a file (UTF-8, one name per line, blank lines ignored) or a list, which must
    have `num_classes` names; None: ImageNet's for 1,000 classes, else 'class <i>'."""
    if source is None:
        from utilities.common.imagenet_classes import class_names
        return tuple(class_names(num_classes))
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelFileError(f"{CLASS_NAMES_FLAG} {path}: no such file") from None
        except UnicodeDecodeError:
            raise ModelFileError(f"{CLASS_NAMES_FLAG} {path}: not UTF-8 text (one class name per line)") from None
        except OSError as exc:
            raise ModelFileError(f"{CLASS_NAMES_FLAG} {path}: cannot read it ({_one_line(exc)})") from None
        names = tuple(line.strip() for line in text.splitlines() if line.strip())
        where = f"{CLASS_NAMES_FLAG} {path}"
    else:
        names, where = tuple(str(name) for name in source), "the class names"
    if len(names) != num_classes:
        raise ModelFileError(f"{where} has {len(names)} names; the model has {num_classes} outputs "
                             f"(one name per line, in output order)")
    return names


# ------------------------------------------------------------------------------------ logits

def _trace(model: keras.Model, source: str, **kwargs):
    try:
        return trace(model, **kwargs)
    except ValueError as exc:
        raise ModelFileError(f"{source}: the model's graph cannot be re-run ({_one_line(exc)})") from None


def _logits_model(model: keras.Model, source: str) -> tuple[keras.Model, list[Call], str, bool]:
    """(the model with logits, flat where names allow, its calls, a note on the final activation, flat?)."""
    try:
        rerun, calls = trace(model, inline=True)
        inline = True
    except ValueError:      # two layers of one name once flattened: keep the nesting
        rerun, calls = _trace(model, source, inline=False)
        inline = False
    final = calls[-1]
    if not inline:          # the layers inside nested models, by path, for --layer and the 4-D search
        calls = nested_calls(model)
    activation = final_activation(final.operation)
    if activation != SOFTMAX:
        kept = f"'{final.path}'" + (f", {activation}" if activation not in (None, "linear") else "")
        return rerun, calls, f"outputs taken as logits: no final softmax ({kept})", inline
    if not inline and "/" in final.path:
        raise ModelFileError(f"{source}: its final softmax is inside the nested model '{final.path.split('/')[0]}' "
                             f"and layer names clash once flattened; rename the layers and save it again")
    replacement = without_activation(final.operation)
    logits, new_calls = _trace(model, source, inline=inline,
                               replace=lambda path, op: replacement if op is final.operation else None)
    note = f"final softmax of '{final.path}' split off: the programs get logits"
    return logits, new_calls if inline else calls, note, inline


# ------------------------------------------------------------------------------------ entry point

def prepare_model(model: keras.Model, *, source: str = "the model", preprocessing: str | None = None,
                  layer: str | None = None, class_names: str | Path | Sequence[str] | None = None,
                  input_size: int | None = None) -> LoadedModel:
    """What `load_keras_model` does after reading the file, for a model already in memory (never modified)."""
    from models.registry import ModelSpec

    in_shape, out_shape = _check_io(model, source)
    size, size_note = _input_size(in_shape, source, input_size)
    mode, mode_reason = _preprocessing(model, preprocessing, source)
    try:
        preprocess = preprocessing_function(mode, channels=in_shape[-1])
    except ValueError as exc:
        raise ModelFileError(f"{source}: {PREPROCESS_FLAG} {mode}: {exc}") from None
    logits, calls, logits_note, flattened = _logits_model(model, source)
    if layer:
        try:
            chosen = resolve_layer(calls, layer, model.name)
        except LayerLookupError as exc:
            raise ModelFileError(f"{LAYER_FLAG} {layer}: {exc}") from None
        if not chosen.spatial:
            raise ModelFileError(f"{LAYER_FLAG} {layer}: its output has shape {_shape_text(chosen.shape or ())}, "
                                 f"not a 4-D feature map (batch, height, width, channels)")
        layer_path, layer_reason = chosen.path, f"given by {LAYER_FLAG} {layer}"
    else:
        found = last_spatial_layer(calls)
        if found is None:
            raise ModelFileError(f"{source}: no layer has a 4-D output (batch, height, width, channels): "
                                 f"nothing for Grad-CAM and the other class maps to read")
        layer_path, layer_reason = found
    if flattened:
        layer_path = layer_path.rsplit("/", 1)[-1]    # a flat model names its layers by leaf name
    names = read_class_names(class_names, int(out_shape[-1]))
    spec = ModelSpec(name=source, input_size=size, preprocess=preprocess, fc_layers=(calls[-1].name,),
                     conv_layers=tuple(p.rsplit("/", 1)[-1] if flattened else p for p in spatial_layers(calls)),
                     gradcam_layer=layer_path, builder=_loaded_builder(logits), preprocessing=mode)
    notes = [f"class-map layer: {layer_path} ({layer_reason})",
             f"preprocessing: {mode} ({mode_reason})", logits_note]
    if size_note:
        notes.append(size_note)
    return LoadedModel(logits, spec, layer_path, layer_reason, mode, mode_reason, logits_note, names, source,
                       flattened, tuple(notes))


def _loaded_builder(model: keras.Model):
    def loaded(*args, **kwargs) -> keras.Model:
        """The model read from the file (it holds its own weights)."""
        if args or kwargs:
            raise ValueError("a model read from a .keras file is not rebuilt; it is used as it is")
        return model
    return loaded


def load_keras_model(path: str | Path, *, preprocessing: str | None = None, layer: str | None = None,
                     class_names: str | Path | Sequence[str] | None = None,
                     input_size: int | None = None) -> LoadedModel:
    """Read a `.keras` model file safely and make it ready for the programs (see the module docstring).

    preprocessing: caffe | torch | tf | unit | none, required when the model does not tell.
    layer: the class-map layer (name or 'base/name' path), default the last 4-D layer.
    class_names: a file of one name per line (or a list), default ImageNet's for 1,000 outputs.
    input_size: the side to feed a model that takes any size (default 224); must equal a fixed one.
    Raises ModelFileError (a models.WeightsError) with a one-line message for every refusal.
    """
    path = Path(path)
    return prepare_model(_load(path), source=str(path), preprocessing=preprocessing, layer=layer,
                         class_names=class_names, input_size=input_size)


def is_model_file(value: str | Path) -> bool:
    """Whether a --model value names a file (ends in .keras, or contains a path separator, or exists
    as a file) rather than a network name."""
    text = str(value)
    return text.endswith(".keras") or "/" in text or "\\" in text or Path(text).is_file()
