"""Images/s of every explanation method on VGG16 at 224x224, as ratios to vanilla saliency.

    python bench/explain_methods_bench.py [--images 2] [--samples 8] [--steps 8] [--repeats 2]
                                          [--scorecam-channels 32] [--methods saliency,gradcam,...]

VGG16 with RANDOM weights (explicitly: timing does not depend on the values; no download),
RGB [0, 1] input with the model's preprocessing inside the traced call, one (top-1) class per
image, all images in one batch. Every method runs once untimed (tracing, allocation), then
all methods are timed in turn, --repeats rounds, keeping each one's best (round-robin, so a
busy spell of the machine does not hit one method only). The settings that set a method's
cost (samples, steps, channels) are printed in the table; cost grows linearly with each,
e.g. Score-CAM over all 512 channels of block5_conv3 (the paper) costs 512 /
--scorecam-channels times the printed time. Machines are noisy: read the ratios, not the
absolute numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from utilities.explain.baselines import EdgeMap, RandomMap  # noqa: E402
from utilities.explain.gradcam import GradCAM  # noqa: E402
from utilities.explain.gradcam_plusplus import GradCAMPlusPlus  # noqa: E402
from utilities.explain.gradient_x_input import GradientXInput  # noqa: E402
from utilities.explain.guided_backprop import GuidedBackprop  # noqa: E402
from utilities.explain.guided_gradcam import GuidedGradCAM  # noqa: E402
from utilities.explain.integrated_gradients import IntegratedGradients  # noqa: E402
from utilities.explain.layercam import LayerCAM  # noqa: E402
from utilities.explain.occlusion import Occlusion  # noqa: E402
from utilities.explain.saliency import VanillaGradient  # noqa: E402
from utilities.explain.scorecam import ScoreCAM  # noqa: E402
from utilities.explain.smoothgrad import SmoothGrad, SmoothGradSquared, VarGrad  # noqa: E402


def method_table(args, model, preprocess, layer):
    """name -> (settings text, explainer)."""
    sg = {"samples": args.samples, "pass_batch": args.pass_batch, "batch_size": args.images}
    channels = args.scorecam_channels or None
    return {
        "saliency": ("", VanillaGradient(model, preprocess, batch_size=args.images)),
        "gradcam": ("", GradCAM(model, layer, preprocess, batch_size=args.images)),
        "gradcam_pp": ("", GradCAMPlusPlus(model, layer, preprocess, batch_size=args.images)),
        "layercam": ("", LayerCAM(model, layer, preprocess, batch_size=args.images)),
        "gradient_x_input": ("", GradientXInput(model, preprocess, batch_size=args.images)),
        "occlusion": ("window 32, stride 16 (169 positions)",
                      Occlusion(model, preprocess, batch_size=args.images, pass_batch=args.pass_batch)),
        "scorecam": (f"{channels or 'all 512'} channels",
                     ScoreCAM(model, layer, preprocess, batch_size=args.images, pass_batch=args.pass_batch,
                              max_channels=channels)),
        "guided_backprop": ("", GuidedBackprop(model, preprocess, batch_size=args.images)),
        "guided_gradcam": ("", GuidedGradCAM(model, layer, preprocess, batch_size=args.images)),
        "smoothgrad": (f"{args.samples} samples", SmoothGrad(model, preprocess, **sg)),
        "smoothgrad_sq": (f"{args.samples} samples", SmoothGradSquared(model, preprocess, **sg)),
        "vargrad": (f"{args.samples} samples", VarGrad(model, preprocess, **sg)),
        "integrated_gradients": (f"{args.steps} steps (trapezoid)",
                                 IntegratedGradients(model, preprocess, batch_size=args.images,
                                                     steps=args.steps, pass_batch=args.pass_batch)),
        "random": ("baseline", RandomMap(model, preprocess, batch_size=args.images)),
        "edges": ("baseline", EdgeMap(model, preprocess, batch_size=args.images)),
    }


def time_once(explainer, images, classes) -> float:
    start = time.perf_counter()
    explainer.explain(images, classes)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2, help="images per batch (one call)")
    parser.add_argument("--samples", type=int, default=8, help="SmoothGrad / VarGrad samples")
    parser.add_argument("--steps", type=int, default=8, help="Integrated Gradients steps")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (best kept)")
    parser.add_argument("--scorecam-channels", type=int, default=32,
                        help="Score-CAM channels (top variance); 0 = all 512, as the paper")
    parser.add_argument("--pass-batch", type=int, default=16, help="model inputs per pass")
    parser.add_argument("--methods", default=None, help="comma-separated subset (saliency always runs)")
    args = parser.parse_args(argv)

    model = models.build_model("vgg16", weights="random")
    spec = models.get_spec("vgg16")
    preprocess = lambda x: spec.preprocess(x * 255.0)  # noqa: E731  (the CLI's RGB [0, 1] input)
    images = np.random.default_rng(0).uniform(0, 1, (args.images, 224, 224, 3)).astype(np.float32)
    classes = np.arange(args.images, dtype=np.int32)[:, None]
    table = method_table(args, model, preprocess, spec.gradcam_layer)
    wanted = list(table) if args.methods is None else ["saliency"] + [
        m for m in args.methods.split(",") if m != "saliency"]
    unknown = [m for m in wanted if m not in table]
    if unknown:
        print(f"error: unknown method(s) {unknown}; choose from {list(table)}", file=sys.stderr)
        return 2
    print(f"VGG16 (random weights) 224x224, {args.images} image(s) per call, top-1 class, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} threads, "
          f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}")
    for name in wanted:
        table[name][1].explain(images, classes)  # trace + warm up, untimed
    seconds = {name: float("inf") for name in wanted}
    for round_ in range(args.repeats):
        for name in wanted:
            seconds[name] = min(seconds[name], time_once(table[name][1], images, classes))
        print(f"  round {round_ + 1}: " + ", ".join(f"{n} {seconds[n]:.2f}s" for n in wanted), flush=True)
    base = seconds["saliency"]
    print("\n| method | settings | images/s | time vs saliency |\n|---|---|---|---|")
    for name in wanted:
        rate, ratio = args.images / seconds[name], seconds[name] / base
        print(f"| {name} | {table[name][0]} | {rate:.3g} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
