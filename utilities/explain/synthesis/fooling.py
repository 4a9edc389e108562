"""Fooling images: imperceptibly change a correctly classified image until the network says `target`.

Three attacks, all batched (each image stops on its own) with traced steps:
- `fool_iterative` (the CS231n fooling exercise): x += lr * g / ||g||_2 with g the gradient of
  the *target logit*, until the target has the highest logit, checked before every step.
- `fgsm` (Goodfellow 2015): one step of size epsilon along the sign of the gradient of the
  cross-entropy: towards `targets` if given, else away from the predicted class.
- `pgd` (Madry 2018): iterated FGSM steps of `step_size`, projected back into the L-inf ball
  of radius epsilon around the original; stops as soon as the target wins.
Results report the steps used and the L-inf / L2 size of the change, in the input space.
Images live in the space of what you pass the model (`preprocess` applied inside);
`value_range` keeps them valid images (e.g. (0, 1) for RGB in [0, 1]). `fool_iterative` can
take its steps on the handouts' normalised image instead (`space=IMAGENET`: the CS231n
exercise's step 1 is one std unit in L2, ~0.226 in RGB [0, 1]); its result is still in x.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from utilities.common.figures import save_figure
from utilities.explain import model_args
from utilities.explain.base import Preprocess
from utilities.explain.plotting import displayable
from utilities.explain.synthesis.space import IMAGENET, NormalisedSpace

# fool_iterative settings: the handouts' (CS231n / CS7643, the default for squeezenet) step 1 in
# L2 on the normalised image, or the project's earlier step 1.0 in L2 on RGB [0, 1] pixels
PRESETS = {"handout": {"learning_rate": 1.0, "space": IMAGENET}, "rgb": {"learning_rate": 1.0, "space": None}}


def default_preset(model_name: str) -> str:
    """'handout' for SqueezeNet (the handouts' network), 'rgb' for the others (as before)."""
    return "handout" if model_name == "squeezenet" else "rgb"


@dataclass
class FoolingResult:
    """What an attack did to each image (numpy, input space)."""

    original: np.ndarray          # (N, H, W, C)
    fooled: np.ndarray            # (N, H, W, C)
    original_classes: np.ndarray  # (N,) predicted before
    final_classes: np.ndarray     # (N,) predicted after
    targets: np.ndarray           # (N,) wanted class; -1 for untargeted attacks
    success: np.ndarray           # (N,) bool: target reached (untargeted: prediction changed)
    steps: np.ndarray             # (N,) gradient steps used
    linf: np.ndarray              # (N,) max |fooled - original|
    l2: np.ndarray                # (N,) ||fooled - original||_2
    final_probabilities: np.ndarray | None = None    # (N,) p(final class) of the fooled image
    target_probabilities: np.ndarray | None = None   # (N,) p(target) of the fooled image (NaN: untargeted)

    def summary(self, i: int = 0) -> str:
        state = "fooled" if self.success[i] else "NOT fooled"
        p = "" if self.final_probabilities is None else f" (p {self.final_probabilities[i]:.3f})"
        return (f"{state}: class {self.original_classes[i]} -> {self.final_classes[i]}{p} in "
                f"{self.steps[i]} step(s), L-inf {self.linf[i]:.4g}, L2 {self.l2[i]:.4g}")


class _Attack:
    """A model + preprocessing with traced logits and input gradients."""

    def __init__(self, model: keras.Model, preprocess: Preprocess | None, value_range):
        self.model, self.preprocess, self.value_range = model, preprocess, value_range
        self.logits = tf.function(self._logits, reduce_retracing=True)
        self.gradient = tf.function(self._gradient, reduce_retracing=True)

    def _logits(self, x):
        model_input = x if self.preprocess is None else self.preprocess(x)
        return tf.cast(self.model(model_input, training=False), tf.float32)

    def _gradient(self, x, classes, loss: str):
        """(logits, d loss / d x): loss "logit" = logit[class], "xent" = cross-entropy to class."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            logits = self._logits(x)
            if loss == "logit":
                value = tf.gather(logits, classes[:, None], batch_dims=1)[:, 0]
            else:
                value = tf.nn.sparse_softmax_cross_entropy_with_logits(classes, logits)
            total = tf.reduce_sum(value)  # images are independent: one backward pass for all
        return logits, tape.gradient(total, x)

    def clip(self, x):
        return x if self.value_range is None else tf.clip_by_value(x, *self.value_range)


def _as_batch(images, targets):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got shape {images.shape}")
    if targets is None:
        return images, None
    targets = np.broadcast_to(np.asarray(targets, dtype=np.int32).reshape(-1), (len(images),)).copy()
    return images, targets


def _result(attack: _Attack, original, fooled, original_classes, targets, steps) -> FoolingResult:
    probabilities = tf.nn.softmax(attack.logits(tf.constant(fooled))).numpy()
    final = np.argmax(probabilities, axis=1)
    rows = np.arange(len(original))
    change = (fooled - original).reshape(len(original), -1)
    success = final == targets if targets is not None else final != original_classes
    return FoolingResult(original, fooled, original_classes, final,
                         targets if targets is not None else np.full(len(original), -1),
                         success, np.asarray(steps), np.abs(change).max(axis=1),
                         np.linalg.norm(change, axis=1), probabilities[rows, final],
                         probabilities[rows, targets] if targets is not None else np.full(len(original), np.nan))


def fool_iterative(model: keras.Model, images, targets, *, preprocess: Preprocess | None = None,
                   learning_rate: float = 1.0, max_steps: int = 100,
                   value_range: tuple[float, float] | None = None,
                   space: NormalisedSpace | None = None) -> FoolingResult:
    """Normalised gradient ascent on the target logit, stopping per image once the target wins.

    Each step is `learning_rate` long in L2, in the input space or, with `space`, on the
    normalised image z (the handouts'); the result (images, norms) is in the input space.
    """
    if targets is None:
        raise ValueError("fool_iterative needs target classes (one int, or one per image)")
    attack = _Attack(model, preprocess, value_range)
    original, targets = _as_batch(images, targets)
    if space is not None:
        ascent = _Attack(model, space.preprocess(preprocess), space.value_range(value_range))
        x = tf.constant(space.to_z(original))
    else:
        ascent, x = attack, tf.constant(original)
    steps = np.zeros(len(original), np.int64)
    original_classes = None
    tf_targets = tf.constant(targets)
    for step in range(max_steps + 1):
        logits, gradient = ascent.gradient(x, tf_targets, "logit")
        predicted = np.argmax(logits.numpy(), axis=1)
        if original_classes is None:
            original_classes = predicted
        active = predicted != targets
        if step == max_steps or not active.any():
            break
        norm = tf.norm(tf.reshape(gradient, [len(original), -1]), axis=1)
        update = learning_rate * gradient / tf.reshape(tf.maximum(norm, 1e-12), [-1, 1, 1, 1])
        x = ascent.clip(x + tf.where(tf.reshape(active, [-1, 1, 1, 1]), update, 0.0))
        steps += active
    fooled = x.numpy()
    if space is not None:  # back to x; untouched images stay bit-identical
        fooled = np.where((steps > 0)[:, None, None, None], space.to_x(fooled), original)
        fooled = fooled if value_range is None else np.clip(fooled, *value_range)
    return _result(attack, original, fooled.astype(np.float32), original_classes, targets, steps)


def fgsm(model: keras.Model, images, targets=None, *, epsilon: float, preprocess: Preprocess | None = None,
         value_range: tuple[float, float] | None = None) -> FoolingResult:
    """One signed-gradient step of size `epsilon` (targeted if `targets` is given)."""
    return pgd(model, images, targets, epsilon=epsilon, step_size=epsilon, max_steps=1,
               preprocess=preprocess, value_range=value_range)


def pgd(model: keras.Model, images, targets=None, *, epsilon: float, step_size: float | None = None,
        max_steps: int = 40, random_start: bool = False, seed: int = 0,
        preprocess: Preprocess | None = None,
        value_range: tuple[float, float] | None = None) -> FoolingResult:
    """Projected gradient descent in the L-inf ball of radius `epsilon`; early stop per image."""
    if epsilon <= 0 or max_steps < 1:
        raise ValueError(f"need epsilon > 0 and max_steps >= 1, got {epsilon}, {max_steps}")
    step_size = epsilon / 4 if step_size is None else step_size
    attack = _Attack(model, preprocess, value_range)
    original, targets = _as_batch(images, targets)
    base = tf.constant(original)
    original_classes = np.argmax(attack.logits(base).numpy(), axis=1)
    x = base
    if random_start:
        noise = np.random.default_rng(seed).uniform(-epsilon, epsilon, original.shape).astype(np.float32)
        x = attack.clip(base + noise)
    labels = tf.constant(targets if targets is not None else original_classes)
    direction = -1.0 if targets is not None else 1.0  # towards the target / away from the class
    steps = np.zeros(len(original), np.int64)
    for step in range(max_steps + 1):
        logits, gradient = attack.gradient(x, labels, "xent")
        predicted = np.argmax(logits.numpy(), axis=1)
        active = predicted != targets if targets is not None else predicted == original_classes
        if step == max_steps or not active.any():
            break
        moved = x + direction * step_size * tf.sign(gradient)
        moved = attack.clip(base + tf.clip_by_value(moved - base, -epsilon, epsilon))
        x = tf.where(tf.reshape(active, [-1, 1, 1, 1]), moved, x)
        steps += active
    return _result(attack, original, x.numpy(), original_classes, targets, steps)


def fooling_figure(result: FoolingResult, i: int = 0, names: Sequence[str] | None = None,
                   deprocess: Callable[[np.ndarray], np.ndarray] | None = None,
                   magnify: float = 10.0) -> Figure:
    """Original, fooled image, and their difference magnified `magnify` times around grey."""
    def label(c):
        return f"{names[c]} ({c})" if names is not None and c >= 0 else str(c)
    if deprocess is None:  # one common scaling for both images so the difference is honest
        low = min(result.original[i].min(), result.fooled[i].min())
        span = max(result.original[i].max(), result.fooled[i].max()) - low
        deprocess = lambda x: (x - low) / max(span, 1e-12)  # noqa: E731
    original, fooled = displayable(result.original[i], deprocess), displayable(result.fooled[i], deprocess)
    difference = np.clip(0.5 + magnify * (fooled - original), 0.0, 1.0)
    fig = Figure(figsize=(10, 3.8))
    panels = [(original, f"original: {label(result.original_classes[i])}"),
              (fooled, f"fooled: {label(result.final_classes[i])}\n{result.steps[i]} step(s)"),
              (difference, f"difference x{magnify:g}\nL-inf {result.linf[i]:.3g}, L2 {result.l2[i]:.3g}")]
    for j, (image, title) in enumerate(panels):
        ax = fig.add_subplot(1, 3, j + 1)
        ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return fig


def save_fooling_figure(result: FoolingResult, dest: str | os.PathLike, i: int = 0, **options) -> Path:
    """Write `fooling_figure(result, i, **options)` atomically as PNG."""
    return save_figure(fooling_figure(result, i, **options), dest)


def build_parser(model_names: Sequence[str]):
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m utilities.explain.synthesis.fooling",
        description="Fooling image: make the network predict TARGET (e.g. 6 stingray, as the handouts)")
    parser.add_argument("image")
    parser.add_argument("target", nargs="?", default=None, metavar="TARGET",
                        help="class to reach, by index or name (or give --target)")
    parser.add_argument("--target", dest="target_option", default=None, metavar="CLASS",
                        help="class to reach, by index or name: 6 or stingray (the handouts')")
    parser.add_argument("--attack", choices=("iterative", "fgsm", "pgd"), default="iterative")
    model_args.add_model_arguments(parser, model_names)   # --model, --weights, --preprocess, --class-names
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="iterative: where its L2 steps are taken: 'handout' on the normalised image "
                             "(std units, the CS231n exercise; default for squeezenet), 'rgb' on RGB [0, 1] "
                             "(default for the other models)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="iterative: L2 length of a step in the preset's space (default 1)")
    parser.add_argument("--epsilon", type=float, default=8 / 255, help="fgsm/pgd: L-inf budget (RGB [0, 1])")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--magnify", type=float, default=10.0)
    parser.add_argument("--output-dir", default="results/fooling")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the figure of the same image, target and attack from an earlier run "
                             "(default: refuse)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m utilities.explain.synthesis.fooling IMAGE TARGET [--attack iterative|fgsm|pgd]`: fool, save figure.

    TARGET (or --target) is a class index or name; an unknown or ambiguous name is a one-line error
    listing the closest classes. The report line gives the final class, its probability, the steps
    and the change's L2 and L-inf norms."""
    import sys

    import models
    from utilities.common.output_paths import refuse_existing
    from utilities.explain.class_lookup import resolve_class
    from utilities.explain.images import ImageReadError, load_image, unit_rgb_preprocess
    from utilities.explain.model_args import known_input_size, open_network, print_notes
    args = build_parser(models.ALL_MODEL_NAMES).parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    preset = dict(PRESETS[args.preset or default_preset(args.model)])
    if args.learning_rate is not None:
        preset["learning_rate"] = args.learning_rate
    try:
        if (args.target is None) == (args.target_option is None):
            raise ValueError("give the target class once: as TARGET or as --target (an index or a name, "
                             "e.g. 6 or stingray)")
        flag = "TARGET" if args.target is not None else "--target"
        size = known_input_size(args)          # a network: the photo read before it is built
        image = load_image(args.image, size).network_input if size else None
        loaded = open_network(args)
        spec, model, names = loaded.spec, loaded.model, loaded.class_names
        if size != spec.input_size:
            image = load_image(args.image, spec.input_size).network_input
        target = resolve_class(args.target if args.target is not None else args.target_option, names, flag=flag)
        dest = Path(args.output_dir) / f"{Path(args.image).stem}_to_{target}_{args.attack}.png"
        if not args.overwrite:
            refuse_existing([dest])     # before the attack: an earlier result is never replaced silently
        print_notes(loaded, weights=args.weights, uses_layer=False)
        common = {"preprocess": unit_rgb_preprocess(spec.preprocess), "value_range": (0.0, 1.0)}
        if args.attack == "iterative":
            result = fool_iterative(model, image, target, max_steps=args.max_steps, **preset, **common)
        elif args.attack == "fgsm":
            result = fgsm(model, image, target, epsilon=args.epsilon, **common)
        else:
            result = pgd(model, image, target, epsilon=args.epsilon, max_steps=args.max_steps, **common)
    except (ImageReadError, models.WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_fooling_figure(result, dest, names=names, deprocess=lambda x: x, magnify=args.magnify)
    print(report_line(result, names) + f" -> {dest}")
    return 0 if result.success[0] else 1


def report_line(result: FoolingResult, names: Sequence[str], i: int = 0) -> str:
    """"fooled: 281 tabby cat -> 6 stingray (p 0.512) in 7 step(s); change L2 0.98, L-inf 0.037 (9.4/255)
    in RGB [0, 1]"."""
    state = "fooled" if result.success[i] else "NOT fooled"
    before, after = int(result.original_classes[i]), int(result.final_classes[i])
    target = int(result.targets[i])
    aim = "" if target < 0 or target == after else (
        f", target {target} {names[target]} p {result.target_probabilities[i]:.3f}")
    return (f"{state}: {before} {names[before]} -> {after} {names[after]} (p {result.final_probabilities[i]:.3f}"
            f"{aim}) in {result.steps[i]} step(s); change L2 {result.l2[i]:.3g}, L-inf {result.linf[i]:.3g} "
            f"({result.linf[i] * 255:.1f}/255) in RGB [0, 1]")


if __name__ == "__main__":
    raise SystemExit(main())
