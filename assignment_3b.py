"""Assignment 3b: saliency maps and Grad-CAM for every picture in a folder.

    python assignment_3b.py My-Images/            # VGG16, ImageNet weights, top-3 Grad-CAM
    python assignment_3b.py my_images/ --model squeezenet   # SqueezeNet 1.1, real weights (5 MB)
    python assignment_3b.py photos/ --model alexnet --methods gradcam --save-arrays
    python assignment_3b.py my_images/ --model my_model.keras --preprocess tf   # your own model

Prints the top-k predictions of each image and writes figures, a summary grid, a
predictions CSV and index.html (every result on one static page) to --output-dir.
Exit status: 0 all images explained, 1 some image failed (each with a one-line reason),
2 nothing could start (bad folder, weights, layer, method).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utilities.explain.model_args import (
    ALL_MODEL_NAMES,
    PROJECT_LAYERS,
    RANDOM_NOTE,
    add_model_arguments,
    is_model_file,
    layer_defaults,
    open_network,
    print_notes,
)

DEFAULT_FOLDER = "my_images"
DEFAULT_TOP_K = 3
# The names of utilities.explain.registry.METHODS, listed here so --help needs no TensorFlow import
# (tests/test_assignment_3b.py checks that the two agree).
METHOD_NAMES = ("saliency", "gradcam", "smoothgrad", "smoothgrad_sq", "vargrad", "integrated_gradients",
                "gradient_x_input", "guided_backprop", "guided_gradcam", "gradcam_pp", "layercam", "scorecam",
                "occlusion", "random", "edges")
# models.MODEL_NAMES with each network's Grad-CAM layer (spec.gradcam_layer), and the keras.applications
# networks, for the same reason (utilities/explain/model_args.py; tests check them against models/registry.py).
GRADCAM_LAYERS = dict(PROJECT_LAYERS)
MODEL_NAMES = tuple(GRADCAM_LAYERS)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER,
                        help="folder of images (or one image file)")
    add_model_arguments(parser, ALL_MODEL_NAMES)
    parser.add_argument("--layer", default=None,
                        help="conv layer for class maps (default: the model's last conv block: "
                             + layer_defaults(ALL_MODEL_NAMES) + ")")
    parser.add_argument("--top-k", type=positive_int, default=None,
                        help=f"classes explained per image (default: {DEFAULT_TOP_K}, or all of a model's when "
                             f"it has fewer)")
    parser.add_argument("--methods", default="saliency,gradcam",
                        help="comma-separated; available: " + ", ".join(METHOD_NAMES))
    parser.add_argument("--output-dir", default="results")
    parser.add_argument("--save-arrays", action="store_true",
                        help="also write <stem>.npz: input, logits, classes and the raw maps")
    parser.add_argument("--shared-scale", nargs="?", const="method", choices=("method", "all"), default=None,
                        help="heat maps on one absolute scale, with a colour bar, instead of each map "
                             "scaled to its own maximum: 'method' (the default when given bare) one scale "
                             "per method over every image and class, 'all' one scale for every map")
    parser.add_argument("--batch-size", type=positive_int, default=8,
                        help="images per traced explanation call (memory bound)")
    parser.add_argument("--num-classes", type=positive_int, default=None,
                        help="outputs of a fine-tuned model from assignment 3a (with --remove-fc)")
    parser.add_argument("--remove-fc", type=int, choices=(0, 1, 2), default=0,
                        help="how the fine-tuned model's head was built (assignment 3a)")
    parser.add_argument("--smoothgrad-samples", type=positive_int, default=25,
                        help="noisy copies per image for smoothgrad, smoothgrad_sq, vargrad")
    parser.add_argument("--ig-steps", type=positive_int, default=32,
                        help="path steps for integrated_gradients")
    parser.add_argument("--scorecam-channels", type=int, default=64,
                        help="scorecam: masked passes for the most varying channels (0 = all, as the "
                             "paper; 512 passes per image on VGG16)")
    parser.add_argument("--occlusion-window", type=positive_int, default=None,
                        help="occlusion: side of the hidden square in pixels (default: a seventh of the "
                             "input, 32 px for VGG16; stride half of it)")
    parser.add_argument("--evaluate", action="store_true",
                        help="instead of figures: deletion/insertion AUC and the model-randomisation "
                             "check for --methods (+ random and edge baselines), in OUTPUT_DIR/evaluation")
    parser.add_argument("--evaluate-steps", type=positive_int, default=32,
                        help="points on each deletion/insertion curve")
    parser.add_argument("--randomisation-stages", type=non_negative_int, default=4,
                        help="layers randomised top-down in the sanity check (0 = skip it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def method_options(args: argparse.Namespace) -> dict[str, dict]:
    """Per-method settings from the flags (each method takes the ones it knows)."""
    smooth = {"samples": args.smoothgrad_samples}
    return {"smoothgrad": smooth, "smoothgrad_sq": smooth, "vargrad": smooth,
            "integrated_gradients": {"steps": args.ig_steps},
            "scorecam": {"max_channels": args.scorecam_channels or None},
            "occlusion": {"window": args.occlusion_window}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    classes = args.num_classes or 1000
    if args.top_k is not None and args.top_k > classes and not args.evaluate and not is_model_file(args.model):
        print(f"error: --top-k {args.top_k} is more than the model's {classes} classes", file=sys.stderr)
        return 2
    if args.remove_fc and not args.num_classes:
        print("error: --remove-fc 1 or 2 needs --num-classes (the fine-tuned model's classes)",
              file=sys.stderr)
        return 2
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import models
    from utilities.explain.base import ExplainSetupError
    from utilities.explain.folder import explain_folder, plan_folder, prepare_output_dir

    try:
        plan = plan_folder(args.folder, args.methods)  # fail fast, before building a 138M-parameter network
        prepare_output_dir(Path(args.output_dir) / "evaluation" if args.evaluate else args.output_dir)
        # a network name: built with its weights (torchvision's bring their preprocessing, 224); a .keras
        # file: read safely, its input size, class-map layer and logits found (the notes say how)
        loaded = open_network(args, layer=args.layer, remove_fc=args.remove_fc, num_classes=args.num_classes)
        top_k = min(DEFAULT_TOP_K, loaded.num_classes) if args.top_k is None else args.top_k
        if top_k > loaded.num_classes and not args.evaluate:
            raise ExplainSetupError(f"--top-k {top_k} is more than the model's {loaded.num_classes} classes")
        if args.weights == "random":
            print(RANDOM_NOTE)
        print_notes(loaded, echo=print)   # the run log, on stdout with the predictions
        model, spec, layer = loaded.model, loaded.spec, loaded.layer
        if args.evaluate:
            from utilities.explain.metrics.folder import evaluate_folder

            evaluation = evaluate_folder(plan, model, preprocess=spec.preprocess,
                                         input_size=spec.input_size, layer=layer,
                                         batch_size=args.batch_size,
                                         output_dir=Path(args.output_dir) / "evaluation",
                                         steps=args.evaluate_steps,
                                         randomisation_stages=args.randomisation_stages,
                                         method_options=method_options(args))
            print(evaluation.format_table())
            print(f"evaluation tables and plots in {Path(args.output_dir) / 'evaluation'}/")
            return 0
        report = explain_folder(plan, model, preprocess=spec.preprocess,
                                input_size=spec.input_size, layer=layer, top_k=top_k, output_dir=args.output_dir,
                                names=loaded.class_names,
                                save_arrays=args.save_arrays, batch_size=args.batch_size,
                                progress=not args.no_progress, method_options=method_options(args),
                                shared_scale=args.shared_scale)
    except (ExplainSetupError, models.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ignored = f" ({len(report.ignored)} non-image file(s) ignored)" if report.ignored else ""
    print(f"{len(report.processed)} image(s) explained, {len(report.failed)} failed{ignored}; "
          f"outputs in {args.output_dir}/ (open {Path(args.output_dir) / 'index.html'} in a browser)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
