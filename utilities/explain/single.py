"""`python -m utilities.explain IMAGE --method NAME`: one registered method, one image.

Writes `<output-dir>/<stem>_<method>.png` (network input, map, overlay) and prints the
explained class. Exit status: 0 written, 2 nothing could be explained (bad image, weights,
layer or method; one line on stderr).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def build_parser(method_names: Sequence[str],
                 gradcam_layers: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """`gradcam_layers`: model name -> its default class-map layer (default: every registered
    model's spec.gradcam_layer)."""
    if gradcam_layers is None:
        import models
        gradcam_layers = {name: models.get_spec(name).gradcam_layer for name in models.MODEL_NAMES}
    parser = argparse.ArgumentParser(prog="python -m utilities.explain",
                                     description="Explain one image with one method.")
    parser.add_argument("image", help="picture to explain")
    parser.add_argument("--method", default="saliency", help=f"one of: {', '.join(method_names)} "
                        "(default: saliency)")
    parser.add_argument("--model", choices=tuple(gradcam_layers), default="vgg16",
                        help="network (default: vgg16; squeezenet: SqueezeNet 1.1, input 227)")
    parser.add_argument("--weights", default="imagenet", help="imagenet, random or a weight file")
    parser.add_argument("--layer", default=None, help="conv layer for class-map methods (default: "
                        + ", ".join(f"{layer} for {name}" for name, layer in gradcam_layers.items()) + ")")
    parser.add_argument("--class-index", type=int, default=None, help="default: the top class")
    parser.add_argument("--output-dir", default="results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, explain one image, save the figure; the exit status."""
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from utilities.explain.registry import METHODS

    args = build_parser(list(METHODS)).parse_args(argv)
    import models
    from utilities.common.figures import save_figure
    from utilities.common.imagenet_classes import class_names
    from utilities.explain._graph import LayerNotFoundError
    from utilities.explain.base import ExplainSetupError, normalise_maps, resize_maps, softmax
    from utilities.explain.images import ImageReadError, load_image, unit_rgb_preprocess
    from utilities.explain.plotting import FigureContent, Prediction, explanation_figure
    from utilities.explain.registry import build_explainers, is_class_map, parse_methods

    try:
        (method,) = parse_methods([args.method])
        spec = models.get_spec(args.model, args.weights)
        try:
            image = load_image(args.image, spec.input_size)
        except ImageReadError as exc:
            raise ImageReadError(f"{args.image}: {exc}") from None
        model = models.build_model(args.model, weights=args.weights)
        if args.class_index is not None and not 0 <= args.class_index < model.output_shape[-1]:
            raise ValueError(f"--class-index {args.class_index} is outside 0..{model.output_shape[-1] - 1}")
        explainer = build_explainers(model, [method], unit_rgb_preprocess(spec.preprocess),
                                     args.layer or spec.gradcam_layer, batch_size=1)[method]
        classes = None if args.class_index is None else [[args.class_index]]
        result = explainer.explain(image.network_input[None], classes)
    except (ImageReadError, models.WeightsError, ExplainSetupError,
            LayerNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    index = int(result.classes[0, 0])
    probability = float(softmax(result.logits[0])[index])
    name = class_names(result.logits.shape[-1])[index]
    shown = normalise_maps(resize_maps(result.maps[0], image.network_input.shape[:2]))
    content = FigureContent(Path(args.image).name, image.network_input, image.original,
                            image.crop_box, [Prediction(index, name, probability)])
    if is_class_map(method):
        content.class_maps[explainer.title] = shown
    else:
        content.input_maps[explainer.title] = shown[0]
    dest = Path(args.output_dir) / f"{Path(args.image).stem}_{method}.png"
    try:
        save_figure(explanation_figure(content), dest)
    except OSError as exc:
        print(f"error: cannot write {dest}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{Path(args.image).name}: {method} for class {index} {name} p={probability:.3f} -> {dest}")
    return 0
