"""Transfer learning by feature extraction (RDFIA 3-a, after Chatfield et al. 2014): VGG16 relu7
features, L2-normalised, and a linear SVM, on 15 Scene, WikiArt, Fashion-MNIST, mnist5k or your own lists.

    python features_svm.py                                   # 15 Scene, VGG16 relu7 (fc2), LinearSVC(C=1)
    python features_svm.py --layer relu7,relu6,pool5 --C 0.1 1 10    # layer x C sweep (C by 5-fold CV)
    python features_svm.py --dataset fashion_mnist --model squeezenet --test-per-class 100
    python features_svm.py --dataset fashion_mnist --model pixels --image-size 28    # the raw-pixel baseline
    python features_svm.py --model mobilenet_v2 --layer out_relu     # a keras.applications network's layer
    python features_svm.py --reduce none pca:64 pca-whiten:64 random:64     # reductions before the SVM
    python features_svm.py --dataset wikiart --classifier finetune-head
    python features_svm.py --train-list a.txt --test-list b.txt --weights random

Features are cached per (model, weights, layer, image list, size, precision) under
<output-dir>/cache, so runs with other C values or classifiers skip the network. Outputs (sweep.csv,
sweep.png, confusion_<layer>.png, per_class_<layer>.csv, report.txt) go to --output-dir.
Exit status: 0 done, 2 bad input or missing data (one line saying what to do).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from utilities.common.image_limits import side_type  # argparse only: --help needs no TensorFlow
from utilities.explain.model_args import ModelChoices, model_value  # no TensorFlow either

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if os.environ.get("TF_VERBOSE") else "3")

# Choices listed here so --help needs no TensorFlow (tests check they match the package's).
DATASETS = ("15scene", "wikiart", "fashion_mnist", "mnist5k")
MODELS = ("alexnet", "vgg16", "vgg19", "squeezenet",                  # the project's networks
          "resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "inception_v3", "convnext_tiny",
          "pixels")                                                     # keras.applications', the raw pixels
CLASSIFIERS = ("linear-svm", "logreg", "finetune-head")
POOLINGS = ("flatten", "avg", "max")
PRECISIONS = ("float32", "mixed_bfloat16")
PREPROCESSING_MODES = ("caffe", "torch", "tf", "unit", "none")   # models.PREPROCESSING_MODES
SCENE_URL = "http://www-cvr.ai.uiuc.edu/ponce_grp/data/scene_categories/scene_categories.zip"
EXIT_BAD_INPUT = 2


def _layers(text: str) -> list[str]:
    layers = [part.strip() for part in text.split(",") if part.strip()]
    if not layers:
        raise argparse.ArgumentTypeError("give at least one layer")
    return layers


def _reduction(text: str):
    from utilities.features_svm.reduce import parse_reduction  # no TensorFlow, no scikit-learn

    return parse_reduction(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("images")
    data.add_argument("--dataset", choices=DATASETS, default="15scene",
                      help="15scene (downloaded once to --data-dir), wikiart (assignment 3a's lists), or the real "
                           "28x28 sets fashion_mnist / mnist5k written as PNG lists under --data-dir "
                           "(default %(default)s)")
    data.add_argument("--train-list", type=Path, help='"path label" list (with --test-list: replaces --dataset)')
    data.add_argument("--test-list", type=Path, help='"path label" list of the test images')
    data.add_argument("--data-dir", type=Path, default=None,
                      help="15 Scene folder, or where fashion_mnist / mnist5k images and lists are written "
                           "(default utilities/data/<dataset>)")
    data.add_argument("--url", default=SCENE_URL, help="15 Scene archive URL (a mirror) (default %(default)s)")
    data.add_argument("--train-per-class", type=int, default=100,
                      help="training images per class, drawn with --seed: 15 Scene's (the rest test), or from "
                           "fashion_mnist's / mnist5k's training split (default %(default)s)")
    data.add_argument("--test-per-class", type=int, default=None,
                      help="at most this many test images per class, drawn with --seed (default: all)")
    net = p.add_argument_group("features")
    net.add_argument("--model", type=model_value(MODELS), choices=ModelChoices(MODELS), default="vgg16",
                     help="network (the project's, or keras.applications' resnet50 ... convnext_tiny with their "
                          "own preprocessing and input size), pixels: the image itself (resized, /255), no "
                          "network, or the path of a .keras model (its input size; --preprocess) "
                          "(default %(default)s)")
    net.add_argument("--preprocess", choices=PREPROCESSING_MODES, default=None,
                     help="a .keras --model only: how it expects its RGB input (caffe, torch, tf: -1..1, unit: "
                          "0..1, none: 0..255); default what the model tells, required when it cannot tell")
    net.add_argument("--weights", default="imagenet",
                     help="imagenet (downloaded once), random (untrained, says so), or a weight file "
                          "(.npy, .npz, .h5, .weights.h5, .keras) (default %(default)s)")
    net.add_argument("--layer", type=_layers, default=None,
                     help="comma-separated: layer names (fc2, block5_pool, fire9_concat, ...), relu7 / relu6 / "
                          "pool5, or the handout's negative index into the classifier (-2 = relu7, -4 = relu6, "
                          "-7 = pool5 flattened) (default relu7: fc2 for VGG16, fc7 for AlexNet; squeezenet: "
                          "fire9_concat, the last fire module; a keras.applications network: its class-map layer, "
                          "e.g. out_relu for mobilenet_v2)")
    net.add_argument("--pooling", choices=POOLINGS, default=None,
                     help="conv layers: flatten (the handout), or average / max over space (default flatten; "
                          "squeezenet and the keras.applications networks: avg)")
    net.add_argument("--image-size", type=side_type(min_side=8),
                     help="input side for conv layers, 8 to 4096 (default: the network's own; pixels: 32)")
    net.add_argument("--batch-size", type=int, default=32, help="images per network call (default %(default)s)")
    net.add_argument("--precision", choices=PRECISIONS, default="float32",
                     help="mixed_bfloat16: bf16 compute, float32 features (default %(default)s)")
    clf = p.add_argument_group("classifier")
    clf.add_argument("--reduce", type=_reduction, nargs="+", default=["none"], metavar="SPEC",
                     help="dimensionality reduction fitted on the training features, then L2 normalisation: none, "
                          "pca:N, pca-whiten:N, random:N (Gaussian random projection); several values are each "
                          "run (default none)")
    clf.add_argument("--classifier", choices=CLASSIFIERS, default="linear-svm",
                     help="LinearSVC, LogisticRegression, or a new Keras dense layer on the features "
                          "(default %(default)s)")
    clf.add_argument("--C", type=float, nargs="+", default=[1.0],
                     help="regularisation C; several values are compared by cross-validation on the training "
                          "features (default 1.0)")
    clf.add_argument("--grid", action="store_true", help="cross-validated search over C in 0.01, 0.1, 1, 10, 100")
    clf.add_argument("--cv-folds", type=int, default=5, help="stratified folds of the C search (default %(default)s)")
    clf.add_argument("--epochs", type=int, default=100, help="finetune-head: epochs (default %(default)s)")
    clf.add_argument("--learning-rate", type=float, default=0.03,
                     help="finetune-head: Adam's first step, cosine-decayed to 0 (default %(default)s)")
    out = p.add_argument_group("output")
    out.add_argument("--output-dir", type=Path, default=Path("results/features_svm"), help="(default %(default)s)")
    out.add_argument("--cache-dir", type=Path, help="feature cache (default <output-dir>/cache)")
    out.add_argument("--no-cache", dest="cache", action="store_false", help="always run the network")
    out.add_argument("--summary", action="store_true",
                     help="print the parameters per layer and how many are in the FC layers")
    out.add_argument("--activation-maps", type=Path, metavar="IMAGE",
                     help="also draw the first conv layer's activation maps of IMAGE")
    out.add_argument("--seed", type=int, default=0,
                     help="15 Scene split, random weights, SVM and CV folds, dense head (default %(default)s)")
    out.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from utilities.common.output_paths import OutputPathError, check_output_dir, disk_full_message
    from utilities.features_svm.checks import check_paths
    from utilities.features_svm.errors import DiskFullError, FeaturesSvmError

    try:  # before the slow TensorFlow import: a mistyped path or an unwritable folder fails at once
        check_paths(train_list=args.train_list, test_list=args.test_list, weights=args.weights,
                    activation_maps=args.activation_maps, model=args.model, preprocess=args.preprocess)
        check_output_dir(args.output_dir, "--output-dir")
        if args.cache and args.cache_dir is not None:
            check_output_dir(args.cache_dir, "--cache-dir")
    except (FeaturesSvmError, OutputPathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from utilities.features_svm.experiment import Config, run

    settings = vars(args)
    settings["layers"] = settings.pop("layer")
    if settings["data_dir"] is None:
        del settings["data_dir"]
    try:
        result = run(Config(**settings))
    except FeaturesSvmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        message = disk_full_message(exc, exc.where if isinstance(exc, DiskFullError) else args.output_dir)
        if message is None:
            raise
        print(f"error: {message} (finished features are cached; the same command continues)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: finished features are cached; run the same command again to continue",
              file=sys.stderr)
        return 130
    print(result.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
