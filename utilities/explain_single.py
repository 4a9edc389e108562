"""`python -m utilities.saliency IMAGE` / `python -m utilities.gradcam IMAGE`: one method, one image.

Writes `<stem>_<method>.png` (network input, map, overlay) and prints the explained class.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(method_class, argv: list[str] | None = None) -> int:
    """Parse arguments, explain one image with `method_class`, save the figure; exit status."""
    parser = argparse.ArgumentParser(description=f"{method_class.title} for one image")
    parser.add_argument("image")
    parser.add_argument("--model", choices=("vgg16", "alexnet"), default="vgg16")
    parser.add_argument("--weights", default="imagenet", help="imagenet, random or a weight file")
    parser.add_argument("--layer", default=None, help="conv layer (class-map methods)")
    parser.add_argument("--class-index", type=int, default=None, help="default: the top class")
    parser.add_argument("--output-dir", default="results")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import models
    from utilities.download import DownloadError
    from utilities.explain_folder import softmax, unit_rgb_preprocess
    from utilities.explanation import normalise_maps, resize_maps
    from utilities.gradcam import CAM
    from utilities.imagenet_classes import class_names
    from utilities.images import ImageReadError, load_image
    from utilities.plotting import FigureContent, Prediction, explanation_figure, save_figure

    try:
        spec = models.get_spec(args.model)
        image = load_image(args.image, spec.input_size)
        model = models.build_model(args.model, weights=args.weights)
        options = {"layer": args.layer or spec.gradcam_layer} if issubclass(method_class, CAM) else {}
        explainer = method_class(model, preprocess=unit_rgb_preprocess(spec.preprocess), **options)
        result = explainer.explain(image.network_input[None], None if args.class_index is None
                                   else [[args.class_index]])
    except (ImageReadError, models.WeightsError, DownloadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    index = int(result.classes[0, 0])
    probability = float(softmax(result.logits[0])[index])
    name = class_names(result.logits.shape[-1])[index]
    shown = normalise_maps(resize_maps(result.maps[0], image.network_input.shape[:2]))
    content = FigureContent(Path(args.image).name, image.network_input, image.original,
                            image.crop_box, [Prediction(index, name, probability)])
    if issubclass(method_class, CAM):
        content.class_maps[method_class.title] = shown
    else:
        content.input_maps[method_class.title] = shown[0]
    dest = Path(args.output_dir) / f"{Path(args.image).stem}_{method_class.name}.png"
    save_figure(explanation_figure(content), dest)
    print(f"{Path(args.image).name}: class {index} {name} p={probability:.3f} -> {dest}")
    return 0
