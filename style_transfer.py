"""Neural style transfer (Gatys et al. 2015; CS7643 A3 part II) on the project's VGG16, VGG19 or SqueezeNet.

    python style_transfer.py my_images/chelsea.jpg my_images/coffee.jpg            # ImageNet weights
    python style_transfer.py my_images/chelsea.jpg my_images/style/scream.jpg --model squeezenet  # handout preset
    python style_transfer.py CONTENT STYLE -o results/style_transfer/out.png --image-size 256
    python style_transfer.py CONTENT STYLE --weights random --content-weight 1e-3 \\
        --style-weights 1e3,1e3,1e3,1e3,1e3 --tv-weight 1e-6                    # offline: textures

Optimises the pixels of a picture (never the network) so that one layer's feature maps match
the content image and the Gram matrices of several layers match the style image, with a
total-variation penalty; L-BFGS (default) or Adam. Layers, loss weights and sizes not given
come from the model's preset: neural-style's for VGG, the CS231n/CS7643 handout's for SqueezeNet
(fire2 content, conv1/fire3/fire4/fire5 style, 192 px, style 512 px; utilities/style_transfer/
presets.py). Writes the result, a side-by-side figure,
the loss curves (PNG + CSV), run.json and snapshots every --save-every iterations next to -o.
Exit status: 0 done, 1 the disk filled up while writing, 2 bad input (one line naming the flag
or file), 130 interrupted (Ctrl-C: the picture so far is kept as a snapshot and named).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from utilities.common.image_limits import MAX_SIDE, side_type  # argparse only: --help needs no TensorFlow

# Listed here so --help needs no TensorFlow import (tests check they match the package's).
MODELS = ("vgg16", "vgg19", "squeezenet")
CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS = "block1_conv1,block2_conv1,block3_conv1,block4_conv1,block5_conv1"
# Each model's preset layers and picture size (utilities/style_transfer/presets.py)
DEFAULTS = {"vgg16": (CONTENT_LAYER, STYLE_LAYERS, 512), "vgg19": (CONTENT_LAYER, STYLE_LAYERS, 512),
            "squeezenet": ("fire2_concat", "conv1,fire3_concat,fire4_concat,fire5_concat", 192)}
INITS = ("content", "style", "noise")
OPTIMIZERS = ("lbfgs", "adam")
PRECISIONS = ("float32", "bfloat16")
# --gram-normalisation: the form's name -> what F^T F is divided by (utilities/style_transfer/losses.py)
GRAM_NORMALISATIONS = {"handout": "H*W*C", "paper": "1"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


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


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def names(text: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError("give at least one name")
    return values


def floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(non_negative_float(part) for part in text.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers >= 0, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("content", help="content picture (any common image file)")
    parser.add_argument("style", help="style picture")
    parser.add_argument("-o", "--output", default=None,
                        help="result image (.png/.jpg); default results/style_transfer/<content>_x_<style>.png")
    parser.add_argument("--model", choices=MODELS, default="vgg16")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (downloaded once), 'random' (untrained: textures, not art) or a weight "
                             "file: .npy, .npz, .h5, .weights.h5, .keras")
    parser.add_argument("--image-size", type=side_type(), default=None,
                        help=f"longest side of the result in pixels, at most {MAX_SIDE}; default the model's "
                             "preset: 512 (VGG), 192 (squeezenet)")
    parser.add_argument("--style-size", type=side_type(), default=None,
                        help="longest side of the style picture; default the preset's (squeezenet: 512), "
                             "else the same as --image-size")
    parser.add_argument("--content-layer", default=None,
                        help=f"default the model's preset: {CONTENT_LAYER} (VGG), {DEFAULTS['squeezenet'][0]} "
                             "(squeezenet)")
    parser.add_argument("--style-layers", type=names, default=None,
                        help=f"comma-separated; default the model's preset: {STYLE_LAYERS} (VGG), "
                             f"{DEFAULTS['squeezenet'][1]} (squeezenet)")
    parser.add_argument("--content-weight", type=non_negative_float, default=None,
                        help="w_c in w_c*sum((F-P)^2); default 5 / (elements of the content layer's map), "
                             "neural-style's default (squeezenet with its preset content layer: the preset's)")
    parser.add_argument("--style-weights", type=floats, default=None,
                        help="w_l per style layer, comma-separated, in sum_l w_l*sum((G_l-A_l)^2) with "
                             "G = F^T F/(H*W*C) (see --gram-normalisation); default 100/C_l^2 (neural-style's; "
                             "squeezenet with its preset style layers: the preset's)")
    parser.add_argument("--gram-normalisation", choices=tuple(GRAM_NORMALISATIONS), default="handout",
                        help="the Gram matrix of a (H*W, C) map F: 'handout' G = F^T F/(H*W*C) (the CS7643/CS231n "
                             "handout's normalize=True), 'paper' the raw G = F^T F of Gatys et al. (divided by "
                             "nothing); with 'paper' the default and preset style weights are divided by "
                             "(H_l*W_l*C_l)^2 at the result's size, weights you give apply to the raw form as they are")
    parser.add_argument("--tv-weight", type=non_negative_float, default=None,
                        help="w_t on the sum of squared neighbour differences (pixels 0..255); default 5e-4 "
                             "(squeezenet: the preset's)")
    parser.add_argument("--iterations", type=positive_int, default=500)
    parser.add_argument("--init", choices=INITS, default="content", help="starting picture")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    parser.add_argument("--learning-rate", type=non_negative_float, default=10.0, help="Adam's step (pixels)")
    parser.add_argument("--preserve-colors", action="store_true",
                        help="luminance-only transfer: the result keeps the content's colours")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="bfloat16: convolutions in mixed bfloat16 (fast on GPUs), losses in float32")
    parser.add_argument("--save-every", type=non_negative_int, default=100,
                        help="write the picture every N iterations into <output>_steps/ (0: never)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the noise start and --weights random")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags, with the layers and picture size the user left out taken from --model's preset."""
    args = build_parser().parse_args(argv)
    content_layer, style_layers, image_size = DEFAULTS[args.model]
    args.from_preset = [flag for flag in ("content_layer", "style_layers", "image_size") if getattr(args, flag) is None]
    args.content_layer = args.content_layer or content_layer
    args.style_layers = args.style_layers or names(style_layers)
    args.image_size = args.image_size or image_size
    return args


def _check_files(args: argparse.Namespace) -> str | None:
    for flag, path in (("CONTENT", args.content), ("STYLE", args.style)):
        if not Path(path).is_file():
            return f"{flag} picture {path} does not exist (or is not a file)"
    if args.output and Path(args.output).suffix.lower() not in IMAGE_SUFFIXES:
        return f"-o {args.output}: the result must be an image file ({', '.join(IMAGE_SUFFIXES)})"
    if args.style_weights is not None and len(args.style_weights) != len(args.style_layers):
        return (f"--style-weights has {len(args.style_weights)} value(s) for {len(args.style_layers)} "
                f"--style-layers ({', '.join(args.style_layers)}); give one per layer")
    return None


def shown(path: str | os.PathLike) -> str:
    """A path as text that can always be printed: bytes that are not UTF-8 become U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def default_result(content: str, style: str) -> Path:
    """results/style_transfer/<content stem>_x_<style stem>.png (as the package's default_output)."""
    return Path("results/style_transfer") / f"{Path(content).stem}_x_{Path(style).stem}.png"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = _check_files(args)
    out = Path(args.output) if args.output else default_result(args.content, args.style)
    if problem is None:   # before the network and minutes of optimisation, not after them
        from utilities.common.output_paths import OutputPathError, check_output_file

        try:
            check_output_file(out, "-o")
        except OutputPathError as exc:
            problem = shown(str(exc))
    if problem:
        print(f"error: {shown(problem)}", file=sys.stderr)
        return 2
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    import models
    from utilities.common.output_paths import disk_full_message
    from utilities.style_transfer import (
        ImageInputError,
        LayerChoiceError,
        TransferInterrupted,
        TransferSettings,
        preset_for,
        run_style_transfer,
    )

    given = {flag: None if flag in args.from_preset else getattr(args, flag)   # None: the package's preset
             for flag in ("content_layer", "style_layers", "image_size")}
    settings = TransferSettings(
        model=args.model, weights=args.weights, style_size=args.style_size, **given,
        content_weight=args.content_weight, style_weights=args.style_weights,
        tv_weight=args.tv_weight, iterations=args.iterations, init=args.init, optimizer=args.optimizer,
        learning_rate=args.learning_rate, preserve_colors=args.preserve_colors, precision=args.precision,
        seed=args.seed, save_every=args.save_every, progress=not args.no_progress,
        gram_normalisation=args.gram_normalisation)
    try:
        conv_layers = models.get_spec(args.model, args.weights).conv_layers
        unknown = [n for n in (args.content_layer, *args.style_layers) if n not in conv_layers]
        if unknown:
            raise LayerChoiceError(f"--content-layer/--style-layers: {', '.join(unknown)} not in {args.model}; "
                                   f"choose among {', '.join(conv_layers)}")
        if args.weights == "random":
            keras.utils.set_random_seed(args.seed)
            print("note: --weights random: an untrained network gives textures, not art; the default loss "
                  "weights suit ImageNet features (docs/style_transfer.md gives weights that suit random ones)")
        result = run_style_transfer(args.content, args.style, out, settings)
    except (ImageInputError, LayerChoiceError, models.WeightsError) as exc:
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return 2
    except TransferInterrupted as exc:
        print(f"\ninterrupted: {shown(str(exc))}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:   # before or after the optimisation: nothing half-written (atomic files)
        print("\ninterrupted: the files already written are complete (each is written whole); the same "
              "command starts again", file=sys.stderr)
        return 130
    except OSError as exc:
        message = disk_full_message(exc, shown(out.parent))
        if message is None:
            raise
        print(f"error: {message} (files already written are complete; {shown(out)} was not written)",
              file=sys.stderr)
        return 1
    w, first, last = result.weights, result.initial, result.final
    from_preset = [name for name in result.from_preset if name.endswith("weight") or name.endswith("weights")]
    if from_preset:
        print(f"preset ({args.model}): {', '.join(from_preset)} from {preset_for(args.model, args.weights).source}")
    print(f"loss weights: content {w.content:.3g}, style {', '.join(f'{v:.3g}' for v in w.style)}, tv {w.tv:.3g}")
    changes = ", ".join(f"{name} {getattr(first, name):.4g} -> {getattr(last, name):.4g}"
                        for name in ("content", "style", "tv", "total"))
    print(f"weighted losses, start -> end: {changes} after {len(result.history)} iterations "
          f"({result.seconds:.1f} s)")
    print(f"result {shown(out)}; figures, losses and run.json beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
