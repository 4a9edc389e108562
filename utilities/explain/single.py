"""`python -m utilities.explain IMAGE --method NAME`: one registered method, one image.

Writes `<output-dir>/<stem>_<method>[_<layer>]_<index>-<class>.png` (network input, map, overlay)
and prints the explained class. Several classes and/or layers (`--class-index 285,281
--layer fire7_concat,fire9_concat`) give one figure that compares them, rows = classes, columns
= layers, named after all of them (`chelsea_gradcam_fire7_concat+fire9_concat_285-Egyptian_Mau+281-tabby_cat.png`).
Classes are given by index or by name. A figure that exists already is never replaced without
`--overwrite`. Exit status: 0 written, 2 nothing could be explained (bad image, weights, layer,
method, class or output file; one line on stderr).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from utilities.explain.model_args import (
    ALL_MODEL_NAMES,
    add_model_arguments,
    known_input_size,
    layer_defaults,
    open_network,
    print_notes,
)


def build_parser(method_names: Sequence[str], model_names: Sequence[str] = ALL_MODEL_NAMES) -> argparse.ArgumentParser:
    """`model_names`: the networks --model takes by name (besides a .keras file)."""
    parser = argparse.ArgumentParser(prog="python -m utilities.explain",
                                     description="Explain one image with one method; several classes or "
                                                 "layers give one figure comparing them.")
    parser.add_argument("image", help="picture to explain")
    parser.add_argument("--method", default="saliency", help=f"one of: {', '.join(method_names)} "
                        "(default: saliency)")
    add_model_arguments(parser, model_names)
    parser.add_argument("--layer", default=None,
                        help="conv layer(s) for the methods that use one, comma-separated to compare "
                             "(default: " + layer_defaults(model_names) + ")")
    parser.add_argument("--class-index", default=None,
                        help="class(es) to explain, comma-separated, by index or name (285,281 or "
                             "'tabby cat,Egyptian Mau'); default: the top class")
    parser.add_argument("--output-dir", default="results")
    parser.add_argument("--overwrite", action="store_true", help="replace a figure of the same name")
    return parser


def _layers(text: str | None) -> list[str]:
    """The --layer list (duplicates dropped); [] when not given (the model's own layer)."""
    if text is None:
        return []
    layers = [part.strip() for part in text.split(",") if part.strip()]
    if not layers:
        raise ValueError(f"--layer {text!r}: no layer named")
    return list(dict.fromkeys(layers))


def _read(path: str, size: int):
    """The picture at the network's input size; ImageReadError naming the file."""
    from utilities.explain.images import ImageReadError, load_image
    try:
        return load_image(path, size)
    except ImageReadError as exc:
        raise ImageReadError(f"{path}: {exc}") from None


def _check_free(dest: Path, overwrite: bool) -> None:
    from utilities.common.output_paths import refuse_existing
    if not overwrite:
        refuse_existing([dest])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, explain one image, save the figure; the exit status."""
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from utilities.explain.registry import METHODS

    args = build_parser(list(METHODS)).parse_args(argv)
    import models
    from utilities.common.figures import save_figure
    from utilities.common.output_paths import OutputPathError, check_output_file, disk_full_message
    from utilities.explain._graph import LayerNotFoundError
    from utilities.explain.base import ExplainSetupError, normalise_maps, resize_maps, softmax
    from utilities.explain.class_lookup import resolve_class_list
    from utilities.explain.file_names import figure_name
    from utilities.explain.images import ImageReadError, display_name, unit_rgb_preprocess
    from utilities.explain.plotting import ComparisonCell, FigureContent, Prediction, comparison_figure
    from utilities.explain.registry import build_explainers, is_class_map, parse_methods, takes_layer

    try:
        (method,) = parse_methods([args.method])
        uses_layer = takes_layer(METHODS[method])
        if args.layer and not uses_layer:
            raise ExplainSetupError(f"--layer: {method} uses no layer; only these methods do: "
                                    + ", ".join(m for m, cls in METHODS.items() if takes_layer(cls)))
        given = _layers(args.layer) if uses_layer else []
        size = known_input_size(args)         # a network: read the picture before building it
        image = _read(args.image, size) if size else None
        # one layer is checked (and found in a flattened model) by open_model; several by the explainers
        loaded = open_network(args, layer=given[0] if len(given) == 1 else None)
        if image is None or image.network_input.shape[0] != loaded.spec.input_size:
            image = _read(args.image, loaded.spec.input_size)
        model, spec, names = loaded.model, loaded.spec, loaded.class_names
        layers = (given if len(given) > 1 else [loaded.layer]) if uses_layer else [""]
        classes = None if args.class_index is None else resolve_class_list(args.class_index, names,
                                                                         flag="--class-index")
        preprocess = unit_rgb_preprocess(spec.preprocess)
        explainers = [build_explainers(model, [method], preprocess, layer or None, batch_size=1)[method]
                      for layer in layers]
        stem = Path(args.image).stem
        out = Path(args.output_dir)
        if classes is not None:   # refuse before the work when the name is known already
            _check_free(out / figure_name(stem, method, [x for x in layers if x],
                                          [(c, names[c]) for c in classes]), args.overwrite)
        network_input = image.network_input[None]
        results = [e.explain(network_input, None if classes is None else [classes]) for e in explainers]
        explained = [int(c) for c in results[0].classes[0]]
        dest = out / figure_name(stem, method, [x for x in layers if x], [(c, names[c]) for c in explained])
        _check_free(dest, args.overwrite)
        check_output_file(dest, "--output-dir")
    except (ImageReadError, models.WeightsError, ExplainSetupError, LayerNotFoundError, OutputPathError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_notes(loaded, layers=layers, uses_layer=uses_layer, weights=args.weights)
    probabilities = softmax(results[0].logits[0])
    predictions = [Prediction(c, names[c], float(probabilities[c])) for c in explained]
    size = image.network_input.shape[:2]
    cells = [[ComparisonCell(prediction, layer, normalise_maps(resize_maps(result.maps[0, row], size)))
              for layer, result in zip(layers, results, strict=True)]
             for row, prediction in enumerate(predictions)]
    shown_name = display_name(Path(args.image).name)
    content = FigureContent(shown_name, image.network_input, image.original, image.crop_box, predictions)
    try:
        save_figure(comparison_figure(content, explainers[0].title, is_class_map(method), cells), dest)
    except OSError as exc:
        print(f"error: cannot write {display_name(dest)}: {disk_full_message(exc, dest) or exc.strerror or exc}",
              file=sys.stderr)
        return 2
    for prediction in predictions:
        for layer in layers:
            where = f" on {layer}" if layer else ""
            print(f"{shown_name}: {method}{where} for class {prediction.index} {prediction.name} "
                  f"p={prediction.probability:.3f} -> {display_name(dest)}")
    return 0
