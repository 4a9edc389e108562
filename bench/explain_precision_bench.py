"""Precision plans for assignment 3b's saliency: speed and agreement with float32, in one run.

    .venv/bin/python bench/explain_precision_bench.py [--batch-size 4] [--repeats 2]

Each plan is VGG16 (He-scaled random weights, the same values in every plan) with a dtype
policy per layer, explained by the project's saliency (max over channels of |d logit / d x|)
for the float32 network's top-1 class of the bench photos (my_images/):
  float32                 every layer float32 (what the CLI runs)
  bf16                    every layer mixed_bfloat16 (bf16 compute, float32 weights)
  bf16, fp32 block1       block1 float32: the 3-channel first convolution and the last steps of
                          the backward pass to the input in float32, the rest bf16
  bf16, fp32 blocks 1-2   the same through block2
  bf16 from block5        only block5 and the FC head in bf16 (where Grad-CAM works)
First, what bounds the bf16 plans: one 3x3 convolution (64 -> 64 channels, 112x112, batch 4)
timed forward and forward + backward to its input, float32 against bfloat16 (`--probe-only`
runs just that). For each plan: images/s of saliency (forward + backward to the input, compiled, best of --repeats
round-robin after a warm-up), its ratio to float32, and the Pearson correlation of each map
with the float32 map (mean and minimum over the photos). The issue's bar for making a plan the
default: every map >= 0.99 correlated.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from utilities.explain.images import list_images, load_image, unit_rgb_preprocess  # noqa: E402
from utilities.explain.saliency import VanillaGradient  # noqa: E402

PLANS: dict[str, Callable[[str], bool]] = {
    "float32": lambda name: False,
    "bf16": lambda name: True,
    "bf16, fp32 block1": lambda name: not name.startswith("block1"),
    "bf16, fp32 blocks 1-2": lambda name: not name.startswith(("block1", "block2")),
    "bf16 from block5": lambda name: name.startswith("block5") or name in ("flatten", "fc1", "fc2",
                                                                             "predictions", "dropout",
                                                                             "dropout_1"),
}


def he_scaled_vgg16(seed: int = 0) -> keras.Model:
    model = models.build_model("vgg16", weights="random")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            fan_in = int(np.prod(layer.kernel.shape[:-1]))
            layer.kernel.assign(rng.standard_normal(layer.kernel.shape, dtype=np.float32) * np.sqrt(2.0 / fan_in))
            layer.bias.assign(rng.standard_normal(layer.kernel.shape[-1], dtype=np.float32) * 0.01)
    return model


def with_policies(model: keras.Model, in_bf16: Callable[[str], bool]) -> keras.Model:
    """A copy of `model` whose layers run mixed_bfloat16 where `in_bf16(layer name)`."""
    def clone(layer):
        config = layer.get_config()
        config["dtype"] = keras.DTypePolicy("mixed_bfloat16" if in_bf16(layer.name) else "float32")
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def conv_probe(repeats: int) -> dict[tuple[str, str], float]:
    """Seconds of one conv forward and forward + backward-to-input, per dtype (best of `repeats`)."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((4, 112, 112, 64), dtype=np.float32))
    w = tf.constant(rng.standard_normal((3, 3, 64, 64), dtype=np.float32) * 0.06)
    timings = {}
    for dtype in (tf.float32, tf.bfloat16):
        def forward(x, dtype=dtype):
            return tf.nn.conv2d(tf.cast(x, dtype), tf.cast(w, dtype), 1, "SAME")

        def backward(x, forward=forward):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(tf.cast(forward(x), tf.float32))
            return tape.gradient(total, x)

        for kind, function in (("forward", tf.function(forward)), ("forward + backward", tf.function(backward))):
            function(x).numpy()
            best = np.inf
            for _ in range(repeats):
                start = time.perf_counter()
                function(x).numpy()
                best = min(best, time.perf_counter() - start)
            timings[(dtype.name, kind)] = best
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4, help="images per call (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (default %(default)s)")
    parser.add_argument("--plans", nargs="+", choices=list(PLANS), default=list(PLANS))
    parser.add_argument("--probe-only", action="store_true", help="only the single-convolution probe")
    args = parser.parse_args(argv)

    probe = conv_probe(max(args.repeats, 2))
    print("one 3x3 conv, 64 -> 64 channels, 112x112, batch 4 (seconds; bfloat16 / float32)")
    for kind in ("forward", "forward + backward"):
        fp32, bf16 = probe[("float32", kind)], probe[("bfloat16", kind)]
        print(f"  {kind:<19} float32 {fp32:.4f}  bfloat16 {bf16:.4f}  ({bf16 / fp32:.1f}x)", flush=True)
    if args.probe_only:
        return 0

    photos, _ = list_images(ROOT / "my_images")
    images = np.stack([load_image(p).network_input for p in photos[: args.batch_size]])
    preprocess = unit_rgb_preprocess(models.get_spec("vgg16").preprocess)
    base = he_scaled_vgg16()
    classes = np.argmax(base.predict(preprocess(tf.constant(images)), verbose=0), axis=1)[:, None]
    explainers = {name: VanillaGradient(base if name == "float32" else with_policies(base, PLANS[name]),
                                        preprocess, batch_size=len(images)) for name in args.plans}
    maps, best = {}, dict.fromkeys(explainers, np.inf)
    for name, explainer in explainers.items():
        maps[name] = explainer.explain(images, classes).maps[:, 0]  # warm-up: tracing
    for _ in range(args.repeats):
        for name, explainer in explainers.items():
            start = time.perf_counter()
            explainer.explain(images, classes)
            best[name] = min(best[name], time.perf_counter() - start)
    reference = maps.get("float32")
    print(f"VGG16 saliency, {len(images)} photos at 224x224, batch {len(images)}, {os.cpu_count()} CPU(s)")
    print("| plan | images/s | x float32 | corr. with float32 (mean / min) |")
    print("|---|---|---|---|")
    for name in explainers:
        rate = len(images) / best[name]
        speed = f"{best['float32'] / best[name]:.2f}" if "float32" in best else "-"
        corr = correlations(maps[name], reference) if reference is not None else None
        agreement = f"{corr.mean():.3f} / {corr.min():.3f}" if corr is not None else "-"
        print(f"| {name} | {rate:.2f} | {speed} | {agreement} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
