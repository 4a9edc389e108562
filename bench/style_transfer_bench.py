"""Speed of style_transfer.py against the keras-io recipe, and mixed bfloat16 against float32.

    .venv/bin/python bench/style_transfer_bench.py [--sizes 128 256] [--seconds 8] [--bf16-size 64]

For each picture size (long side; astronaut as content, coffee as style, from skimage.data), each
method runs for the same wall time (--seconds, counted from the end of its first iteration, so
tracing is left out for all alike) and reports iterations per second and the loss it reached:

- keras-io recipe (fchollet's "Neural style transfer" example): one model call on the batch
  [content, style, generated] per step (the targets recomputed every step), features of every
  layer, SGD with ExponentialDecay(lr0, 100 steps, 0.96); on our loss (see keras_io_recipe);
- ours, adam / lbfgs: utilities.style_transfer: targets computed once, one forward pass of the
  generated picture through the multi-output feature network, one compiled loss+gradient
  function; Adam (lr 10) or scipy's L-BFGS-B (an iteration may take several evaluations).

"loss reached": all three minimise the SAME objective (ours, with the weights the tests use
for random features; the style picture resized to the content's size, as the recipe does);
the final picture's loss relative to the starting picture's (the content): lower is better.
Ratios are measured in one run, so load from other processes hits all alike.

bf16: Adam for --bf16-iterations on --bf16-size pictures with the feature network in float32
and in mixed bfloat16 (two copies of the same seeded network: the policy belongs to the
layers), from the same start: the largest relative difference between the two loss curves,
the final pictures' mean absolute pixel difference, and the speed ratio.

Weights are random (offline) but He-scaled and seeded, as in tests/synthetic_weights.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OBJECTIVE = {"content": 0.1, "style": 1e4, "tv": 1e-6}   # as tests/test_style_transfer.py (random features)
KERAS_IO = {"content": 2.5e-8, "style": 1e-6, "tv": 1e-6, "content_layer": "block5_conv2"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="long sides to time (default: 256 512 on a GPU, 128 256 on a CPU)")
    parser.add_argument("--seconds", type=float, default=8.0, help="wall time per method and size")
    parser.add_argument("--bf16-size", type=int, default=64)
    parser.add_argument("--bf16-iterations", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def he_vgg16(seed: int):
    """VGG16 through build_model, convolutions re-initialised with seeded He weights (offline)."""
    import keras
    import numpy as np

    import models

    model = models.build_model("vgg16", weights="random")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            scale = np.sqrt(2.0 / np.prod(kernel.shape[:-1])) * (0.01 if layer.name == "block1_conv1" else 1.0)
            layer.set_weights([rng.standard_normal(kernel.shape).astype("float32") * scale,
                               rng.standard_normal(bias.shape).astype("float32") * 0.1])
    return model


def keras_io_recipe(model, content, style, weights, seconds: float):
    """The keras-io example's loop, minimising our objective; returns (iterations timed, seconds, RGB picture).

    Kept from the recipe: a feature model with an output for every layer, called once per step
    on the batch [content, style, generated] (so both targets are recomputed every step), the
    loss computed from that call, SGD with ExponentialDecay(lr0, 100 steps, 0.96), one
    tf.function for loss and gradients. Changed: the loss is ours (same layers, same weights), so
    every method minimises the same function; lr0 makes the first step move a pixel by at most 10
    (Adam's step here), because the recipe's lr 100 belongs to its own loss scale.
    """
    import keras
    import tensorflow as tf

    import models
    from models.vgg16 import MEAN_BGR
    from utilities.style_transfer import CONTENT_LAYER, STYLE_LAYERS, content_loss, gram_matrix, style_loss, tv_loss
    from utilities.style_transfer.features import build_extractor

    spec = models.get_spec("vgg16")
    extractor = build_extractor(model, spec.conv_layers)
    names = list(spec.conv_layers)

    def compute_loss(combination, base, reference):
        features = dict(zip(names, extractor(tf.concat([base, reference, combination], axis=0)), strict=True))
        loss = content_loss(weights.content, features[CONTENT_LAYER][2:3], features[CONTENT_LAYER][0:1])
        loss += style_loss([features[n][2:3] for n in STYLE_LAYERS],
                           [gram_matrix(features[n][1:2]) for n in STYLE_LAYERS], weights.style)
        return loss + tv_loss(combination, weights.tv)

    @tf.function
    def loss_and_grads(combination, base, reference):
        with tf.GradientTape() as tape:
            loss = compute_loss(combination, base, reference)
        return loss, tape.gradient(loss, combination)

    base = tf.constant(spec.preprocess(content[None]))
    reference = tf.constant(spec.preprocess(style[None]))
    combination = tf.Variable(base)
    _, first = loss_and_grads(combination, base, reference)
    lr0 = 10.0 / float(tf.reduce_max(tf.abs(first)))
    optimizer = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(lr0, 100, 0.96))
    iterations, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        loss, grads = loss_and_grads(combination, base, reference)
        optimizer.apply_gradients([(grads, combination)])
        if start is None:
            float(loss)  # the first step also built the optimizer's variables: not timed
            start = time.perf_counter()
        else:
            iterations += 1
    float(tf.reduce_sum(combination))
    elapsed = time.perf_counter() - start
    bgr = combination.numpy()[0] + MEAN_BGR  # the recipe's deprocess_image, without the uint8 rounding
    return iterations, elapsed, np.clip(bgr[..., ::-1], 0, 255)


def ours(method: str, objective, content, seconds: float):
    """Our optimiser for `seconds` after its first iteration; returns (iterations, seconds, picture, evaluations)."""
    from utilities.style_transfer.optimizers import optimise

    clock = {"start": None, "iterations": 0}
    evaluations = {"n": 0}
    inner = objective.value_and_gradient

    def counted(image):
        evaluations["n"] += 1
        return inner(image)

    objective.value_and_gradient = counted

    def on_iteration(iteration, terms, image):
        if clock["start"] is None:
            clock["start"], clock["evals0"] = time.perf_counter(), evaluations["n"]
            return False
        clock["iterations"] += 1
        return time.perf_counter() - clock["start"] >= seconds

    try:
        picture = optimise(method, objective, content.copy(), 10**6, learning_rate=10.0, on_iteration=on_iteration)
    finally:
        objective.value_and_gradient = inner
    elapsed = time.perf_counter() - clock["start"]
    return clock["iterations"], elapsed, picture, evaluations["n"] - clock["evals0"]


def main(argv=None) -> int:
    args = parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import skimage.data
    import tensorflow as tf

    import models
    from utilities.style_transfer import CONTENT_LAYER, STYLE_LAYERS, StyleObjective, reference_weights
    from utilities.style_transfer.features import feature_network_from_model
    from utilities.style_transfer.images import resize_long_side, resize_to
    from utilities.style_transfer.optimizers import adam

    gpu = bool(tf.config.list_physical_devices("GPU"))
    sizes = args.sizes or ([256, 512] if gpu else [128, 256])
    print(f"device: {'GPU' if gpu else 'CPU'}; {args.seconds:g} s per method and size; random He-scaled VGG16")
    preprocess = models.get_spec("vgg16").preprocess
    model = he_vgg16(args.seed)
    network = feature_network_from_model(model, preprocess, CONTENT_LAYER, STYLE_LAYERS)

    def photos(size):
        content = resize_long_side(skimage.data.astronaut().astype(np.float32), size)
        return content, resize_to(skimage.data.coffee().astype(np.float32), *content.shape[:2])

    def objective_for(net, content, style):
        weights = reference_weights(net, content.shape, content=OBJECTIVE["content"],
                                    style=[OBJECTIVE["style"]] * len(STYLE_LAYERS), tv=OBJECTIVE["tv"])
        return StyleObjective(net, content, style, weights)

    print(f"{'size':>5} {'method':<16} {'iters':>6} {'evals':>6} {'it/s':>8} {'x keras-io':>10} "
          f"{'loss reached':>13} {'x keras-io':>10}")
    for size in sizes:
        content, style = photos(size)
        objective = objective_for(network, content, style)
        start_loss = objective.evaluate(content).total or 1.0
        rows = {}
        iters, secs, picture = keras_io_recipe(model, content, style, objective.weights, args.seconds)
        rows["keras-io recipe"] = (iters, iters, iters / secs, objective.evaluate(picture).total / start_loss)
        for method in ("adam", "lbfgs"):
            iters, secs, picture, evals = ours(method, objective, content, args.seconds)
            evals = evals if method == "lbfgs" else iters  # Adam: one evaluation per step (inside its graph)
            rows[f"ours, {method}"] = (iters, evals, iters / secs, objective.evaluate(picture).total / start_loss)
        base_rate, base_loss = rows["keras-io recipe"][2], rows["keras-io recipe"][3]
        for name, (iters, evals, rate, loss) in rows.items():
            print(f"{size:>5} {name:<16} {iters:>6} {evals:>6} {rate:>8.3f} {rate / base_rate:>10.2f} "
                  f"{loss:>13.4f} {loss / base_loss:>10.3f}")

    # mixed bfloat16 against float32: same seeded network twice, same start, same steps
    content, style = photos(args.bf16_size)
    curves, pictures, times = {}, {}, {}
    for precision in ("float32", "bfloat16"):
        net = feature_network_from_model(he_vgg16(args.seed), preprocess, CONTENT_LAYER, STYLE_LAYERS,
                                         precision=precision)
        objective = objective_for(net, content, style)
        history, clock = [], {}

        def record(iteration, terms, image, history=history, clock=clock):
            history.append(terms.total)
            if iteration == 1:
                clock["start"] = time.perf_counter()

        pictures[precision] = adam(objective, content.copy(), args.bf16_iterations, 10.0, record)
        times[precision] = (time.perf_counter() - clock["start"]) / max(1, args.bf16_iterations - 1)
        curves[precision] = np.array(history)
    gap = np.abs(curves["bfloat16"] - curves["float32"]) / curves["float32"]
    pixels = np.abs(pictures["bfloat16"] - pictures["float32"]).mean()
    print(f"bf16 vs fp32 ({args.bf16_size} px, Adam, {args.bf16_iterations} iterations): loss curves differ by "
          f"at most {gap.max():.2%} (mean {gap.mean():.2%}); final loss fp32 {curves['float32'][-1]:.4g}, bf16 "
          f"{curves['bfloat16'][-1]:.4g}; pictures differ by {pixels:.2f}/255 per pixel on average; "
          f"bf16 step time x{times['bfloat16'] / times['float32']:.2f} of fp32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
