"""Speed of style_transfer.py against the keras-io recipe, and mixed bfloat16 against float32.

    .venv/bin/python bench/style_transfer_bench.py [--sizes 128 256] [--rounds 5] [--iterations 2]
                                                   [--budget 10] [--bf16-size 64]

Methods (astronaut as content, coffee as style from skimage.data, both at the size; seeded He-scaled
random VGG16, offline):

- keras-io recipe (fchollet's "Neural style transfer" example), written here from its description:
  one call of a feature model with an output for every layer on the batch [content, style,
  generated] per step (both targets recomputed every step), SGD with ExponentialDecay(lr0, 100
  steps, 0.96), loss and gradients in one tf.function; on our loss (see KerasIoRecipe);
- ours, adam: utilities.style_transfer's compiled Adam step (optimizers.AdamSteps): targets
  computed once, one forward pass of the generated picture through the multi-output network;
- ours, lbfgs: one evaluation as optimizers.lbfgs makes it for scipy (the same compiled loss +
  gradient, to and from float64 NumPy); an L-BFGS iteration is one evaluation or a few.

1. Speed, interleaved (bench/_interleave.py): each round every method does --iterations steps
   (evaluations for L-BFGS) from where it stopped, the order reversed every other round; ratios
   per round against the recipe, wall and CPU time. "it/s" of L-BFGS is evaluations/s divided by
   the evaluations per iteration of part 2.
2. Loss reached in the same time, without a clock running: the budget is --budget recipe steps at
   the recipe's measured step time; each method gets budget / (its step time) steps (L-BFGS runs
   until its evaluations fill the budget). All minimise the SAME objective (ours, with the weights
   the tests use for random features; the style picture resized to the content's size, as the
   recipe does); "loss reached" is the final loss over the starting picture's: lower is better.

bf16: Adam on --bf16-size pictures with the feature network in float32 and in mixed bfloat16 (two
copies of the same seeded network: the policy belongs to the layers), from the same start: the
largest relative difference between the two loss curves over --bf16-iterations, the final
pictures' mean absolute pixel difference, and the step-time ratio (interleaved rounds).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
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
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--iterations", type=int, default=2, help="steps per method per round")
    parser.add_argument("--budget", type=int, default=10, help="part 2: the time of this many recipe steps")
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


class KerasIoRecipe:
    """The keras-io example's loop, minimising our objective; `step()` is one of its iterations.

    Kept from the recipe: a feature model with an output for every layer, called once per step
    on the batch [content, style, generated] (so both targets are recomputed every step), the
    loss computed from that call, SGD with ExponentialDecay(lr0, 100 steps, 0.96), one
    tf.function for loss and gradients. Changed: the loss is ours (same layers, same weights), so
    every method minimises the same function; lr0 makes the first step move a pixel by at most 10
    (Adam's step here), because the recipe's lr 100 belongs to its own loss scale.
    """

    def __init__(self, model, content, style, weights):
        import keras
        import tensorflow as tf

        import models
        from utilities.style_transfer import (
            CONTENT_LAYER,
            STYLE_LAYERS,
            content_loss,
            gram_matrix,
            style_loss,
            tv_loss,
        )
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

        self.base = tf.constant(spec.preprocess(content[None]))
        self.reference = tf.constant(spec.preprocess(style[None]))
        self.combination = tf.Variable(self.base)
        _, first = loss_and_grads(self.combination, self.base, self.reference)
        lr0 = 10.0 / float(tf.reduce_max(tf.abs(first)))
        self.optimizer = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(lr0, 100, 0.96))
        self.loss_and_grads = loss_and_grads

    def step(self) -> float:
        loss, grads = self.loss_and_grads(self.combination, self.base, self.reference)
        self.optimizer.apply_gradients([(grads, self.combination)])
        return float(loss)

    def picture(self) -> np.ndarray:
        from models.vgg16 import MEAN_BGR

        bgr = self.combination.numpy()[0] + MEAN_BGR  # the recipe's deprocess_image, without the uint8 rounding
        return np.clip(bgr[..., ::-1], 0, 255)


def lbfgs_evaluation(objective, shape):
    """One evaluation as optimizers.lbfgs makes it for scipy: float64 vector in, (value, float64 gradient) out."""
    def fun(x: np.ndarray):
        values, gradient = objective.value_and_gradient(x.reshape(shape).astype(np.float32))
        return float(values.numpy().sum()), gradient.numpy().astype(np.float64).ravel()
    return fun


def lbfgs_for_budget(objective, content, seconds_per_evaluation: float, budget: float):
    """L-BFGS from the content until its evaluations, at the measured cost each, fill `budget` seconds;
    returns (picture, iterations, evaluations)."""
    from utilities.style_transfer.optimizers import optimise

    evaluations = {"n": 0}
    inner = objective.value_and_gradient

    def counted(image):
        evaluations["n"] += 1
        return inner(image)

    iterations = {"n": 0}

    def on_iteration(iteration, terms, image):
        iterations["n"] = iteration
        return evaluations["n"] * seconds_per_evaluation >= budget

    objective.value_and_gradient = counted
    try:
        picture = optimise("lbfgs", objective, content.copy(), 10**6, on_iteration=on_iteration)
    finally:
        objective.value_and_gradient = inner
    return picture, iterations["n"], evaluations["n"]


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT / "bench"))
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import statistics

    import skimage.data
    import tensorflow as tf
    from _interleave import interleaved, median_ratio, table

    import models
    from utilities.style_transfer import CONTENT_LAYER, STYLE_LAYERS, StyleObjective, reference_weights
    from utilities.style_transfer.features import feature_network_from_model
    from utilities.style_transfer.images import resize_long_side, resize_to
    from utilities.style_transfer.optimizers import AdamSteps

    gpu = bool(tf.config.list_physical_devices("GPU"))
    sizes = args.sizes or ([256, 512] if gpu else [128, 256])
    print(f"style transfer against the keras-io recipe: {'GPU' if gpu else 'CPU'}, {os.cpu_count()} CPUs seen; "
          f"random He-scaled VGG16; {args.rounds} interleaved rounds of {args.iterations} steps each")
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

    def repeat(step, n=args.iterations):
        def run():
            for _ in range(n):
                out = step()
                if hasattr(out, "numpy"):   # wait for the step
                    out.numpy()
            return n
        return run

    for size in sizes:
        content, style = photos(size)
        objective = objective_for(network, content, style)
        start_loss = objective.evaluate(content).total or 1.0
        recipe = KerasIoRecipe(model, content, style, objective.weights)
        adam_steps = AdamSteps(objective, content, 10.0)
        evaluate = lbfgs_evaluation(objective, content.shape)
        x = content.astype(np.float64).ravel()
        rates = interleaved({"keras-io recipe": repeat(recipe.step),
                             "ours, adam": repeat(adam_steps.step),
                             "ours, lbfgs eval.": repeat(functools.partial(evaluate, x))}, args.rounds, warmup=1)
        print(f"\n{size} px ({content.shape[1]}x{content.shape[0]}): steps (L-BFGS: evaluations)")
        print("\n".join(table(rates, "keras-io recipe", "steps")))

        # 2. the loss each reaches in the same time (step counts from the measured costs; no clock running)
        seconds = {name: 1.0 / statistics.median(values) for name, values in rates.wall.items()}
        budget = args.budget * seconds["keras-io recipe"]
        recipe = KerasIoRecipe(model, content, style, objective.weights)
        for _ in range(args.budget):
            recipe.step()
        adam_steps = AdamSteps(objective, content, 10.0)
        adam_n = max(1, round(budget / seconds["ours, adam"]))
        for _ in range(adam_n):
            adam_steps.step()
        picture, lbfgs_n, evals = lbfgs_for_budget(objective, content, seconds["ours, lbfgs eval."], budget)
        reached = {"keras-io recipe": (args.budget, args.budget, objective.evaluate(recipe.picture()).total),
                   "ours, adam": (adam_n, adam_n, objective.evaluate(adam_steps.image.numpy()).total),
                   "ours, lbfgs": (lbfgs_n, evals, objective.evaluate(picture).total)}
        per_iteration = evals / max(lbfgs_n, 1)
        lbfgs_it = median_ratio(rates, "ours, lbfgs eval.", "keras-io recipe") / per_iteration
        print(f"L-BFGS: {per_iteration:.2f} evaluations per iteration -> {lbfgs_it:.2f}x the recipe's iterations/s")
        print(f"in the time of {args.budget} recipe steps ({budget:.1f} s at the median step time):")
        print(f"{'method':<18} {'steps':>6} {'evals':>6} {'loss reached':>13} {'x keras-io':>10}")
        base = reached["keras-io recipe"][2] / start_loss
        for name, (steps, evals, loss) in reached.items():
            print(f"{name:<18} {steps:>6} {evals:>6} {loss / start_loss:>13.4f} {loss / start_loss / base:>10.3f}")

    # mixed bfloat16 against float32: same seeded network twice, same start, same steps
    content, style = photos(args.bf16_size)
    curves, pictures, steppers = {}, {}, {}
    for precision in ("float32", "bfloat16"):
        net = feature_network_from_model(he_vgg16(args.seed), preprocess, CONTENT_LAYER, STYLE_LAYERS,
                                         precision=precision)
        objective = objective_for(net, content, style)
        stepper = AdamSteps(objective, content, 10.0)
        curves[precision] = np.array([float(np.sum(stepper.step().numpy())) for _ in range(args.bf16_iterations)])
        pictures[precision] = stepper.image.numpy()
        steppers[precision] = stepper
    rates = interleaved({p: repeat(s.step) for p, s in steppers.items()}, args.rounds)
    gap = np.abs(curves["bfloat16"] - curves["float32"]) / curves["float32"]
    pixels = np.abs(pictures["bfloat16"] - pictures["float32"]).mean()
    slower = 1.0 / median_ratio(rates, "bfloat16", "float32")
    print(f"\nbf16 vs fp32 ({args.bf16_size} px, Adam, {args.bf16_iterations} iterations): loss curves differ by "
          f"at most {gap.max():.2%} (mean {gap.mean():.2%}); final loss fp32 {curves['float32'][-1]:.4g}, bf16 "
          f"{curves['bfloat16'][-1]:.4g}; pictures differ by {pixels:.2f}/255 per pixel on average; "
          f"bf16 step time x{slower:.2f} of fp32 (median of {args.rounds} interleaved rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
