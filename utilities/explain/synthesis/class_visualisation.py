"""Class model visualisation (Simonyan 2014, Yosinski 2015): an image the network finds most "class c".

Gradient ascent on the image I for  S_c(I) - l2_weight * ||I||^2  (S_c a class *logit*: the
softmax could also rise by lowering the other classes). Yosinski's regularisers keep the
result natural-looking: a random jitter (roll the image, step, roll back) each iteration and
a Gaussian blur every `blur_every` steps. Each step moves pixels by `learning_rate` on average
(`step_norm="mean_abs"`: the gradient is divided by its mean |.|), or by `learning_rate` in L2
(`step_norm="l2"`, the handouts' `g / ||g||_2`).

Images live in the space of what you would pass the model (`preprocess` applied inside),
e.g. RGB in [0, 1] with `value_range=(0, 1)` keeping them valid. With `space=IMAGENET`
(utilities/explain/synthesis/space.py) the ascent runs on the normalised image
z = (x - mean) / std, as the CS231n-family handouts do, so their settings apply unchanged
whatever the model's own preprocessing (`HANDOUT` below: lr 25 in L2, L2 weight 1e-3 on
||z||^2, 100 iterations, blur every 10, jitter 16, from N(0, 1) noise); results are x again.
One image per class, all classes in one batch; each step is one traced call.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from utilities.common.figures import save_figure
from utilities.explain import model_args
from utilities.explain._blur import gaussian_blur
from utilities.explain.base import Preprocess
from utilities.explain.plotting import displayable
from utilities.explain.synthesis.space import IMAGENET, NormalisedSpace

# The handouts' settings (CS7643 A3 / CS231n, PyTorch SqueezeNet), in the normalised space.
# Measured on the real SqueezeNet 1.1 (caffe weights, 227): tarantula 76, gorilla 366 and
# hourglass 604 from noise each end top-1 with p > 0.99.
HANDOUT = {"iterations": 100, "learning_rate": 25.0, "l2_weight": 1e-3, "blur_every": 10, "blur_sigma": 0.5,
           "jitter": 16, "step_norm": "l2", "space": IMAGENET}
# The project's earlier settings, kept for VGG16 / AlexNet: RGB [0, 1] pixels, mean-|g| steps.
RGB = {"iterations": 200, "learning_rate": 0.01, "l2_weight": 1e-3, "blur_every": 10, "blur_sigma": 0.5,
       "jitter": 8, "step_norm": "mean_abs", "space": None}
PRESETS = {"handout": HANDOUT, "rgb": RGB}
STEP_NORMS = ("mean_abs", "l2")


def default_preset(model_name: str) -> str:
    """'handout' for SqueezeNet (the handouts' network, settings measured on its real weights),
    'rgb' for the others (their earlier behaviour)."""
    return "handout" if model_name == "squeezenet" else "rgb"


@dataclass
class ClassVisualisation:
    """Result of `visualise_classes`, all numpy, in the input space (before `preprocess`)."""

    classes: np.ndarray       # (K,)
    images: np.ndarray        # (K, H, W, C) final images
    strip: np.ndarray         # (S, K, H, W, C) snapshots at `strip_steps`
    strip_steps: np.ndarray   # (S,) iteration of each snapshot (0 = the start image)
    scores: np.ndarray        # (iterations + 1, K) target logit before each step and at the end
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)   # step -> (K, H, W, C), see `visualise`

    @property
    def steps(self) -> int:
        """Gradient-ascent steps taken."""
        return len(self.scores) - 1


def initial_images(init, count: int, shape: Sequence[int], value_range, seed: int) -> np.ndarray:
    """"zeros", "noise" (uniform over value_range, else N(0, 1)) or an image (H,W,C) / (K,H,W,C)."""
    rng = np.random.default_rng(seed)
    if isinstance(init, str):
        if init == "zeros":
            start = np.zeros((count, *shape))
            if value_range is not None:
                start = np.clip(start, *value_range)
            return start.astype(np.float32)
        if init == "noise":
            if value_range is not None:
                return rng.uniform(*value_range, (count, *shape)).astype(np.float32)
            return rng.normal(0.0, 1.0, (count, *shape)).astype(np.float32)
        raise ValueError(f"init must be 'zeros', 'noise' or an image array, got '{init}'")
    image = np.asarray(init, dtype=np.float32)
    if image.shape == tuple(shape):
        return np.repeat(image[None], count, axis=0)
    if image.shape == (count, *shape):
        return image.copy()
    raise ValueError(f"init image has shape {image.shape}; expected {tuple(shape)} or {(count, *shape)}")


class ClassVisualiser:
    """Gradient ascent on class logits for one model; `visualise(classes)` runs it.

    Args:
        model: functional Keras model returning logits; never modified.
        preprocess: applied inside the traced step (e.g. RGB [0, 1] -> model input).
        iterations, learning_rate: steps and mean absolute pixel change per step.
        l2_weight: weight of ||I||^2 in the objective (Simonyan's lambda).
        blur_every, blur_sigma: Gaussian blur period (0: never) and sigma in pixels.
        jitter: max random shift in pixels per step (0: none).
        value_range: (low, high) the image (x) is clipped to after every step; None: no clipping.
        strip_every: snapshot period for the iteration strip.
        step_norm: "mean_abs" (learning_rate = mean |change| per pixel) or "l2" (= L2 length).
        space: a `NormalisedSpace` to run the ascent in (learning_rate, l2_weight and the string
            inits act on z = (x - mean) / std); None: on x itself.
    """

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None, *,
                 iterations: int = 200, learning_rate: float = 1.0, l2_weight: float = 1e-3,
                 blur_every: int = 10, blur_sigma: float = 0.5, jitter: int = 8,
                 value_range: tuple[float, float] | None = None, strip_every: int = 25,
                 step_norm: str = "mean_abs", space: NormalisedSpace | None = None):
        if iterations < 1 or learning_rate <= 0 or l2_weight < 0 or blur_every < 0 or jitter < 0:
            raise ValueError("need iterations >= 1, learning_rate > 0, l2_weight >= 0, "
                             "blur_every >= 0 and jitter >= 0")
        if strip_every < 1:
            raise ValueError(f"strip_every must be >= 1, got {strip_every}")
        if step_norm not in STEP_NORMS:
            raise ValueError(f"step_norm must be one of {STEP_NORMS}, got {step_norm!r}")
        self.model, self.preprocess, self.space = model, preprocess, space
        self.iterations, self.learning_rate, self.l2_weight = iterations, learning_rate, l2_weight
        self.blur_every, self.blur_sigma, self.jitter = blur_every, blur_sigma, jitter
        self.value_range, self.strip_every, self.step_norm = value_range, strip_every, step_norm
        # what the ascent works on: z and its per-channel bounds, or x and value_range
        self._model_input = preprocess if space is None else space.preprocess(preprocess)
        self._bounds = value_range if space is None else space.value_range(value_range)
        self._step = tf.function(self._ascent_step, reduce_retracing=True)
        self._blur = tf.function(lambda x: gaussian_blur(x, blur_sigma), reduce_retracing=True)
        self._scores = tf.function(self._class_scores, reduce_retracing=True)

    def _clip(self, image):
        return image if self._bounds is None else tf.clip_by_value(image, *self._bounds)

    def _class_scores(self, image, classes):
        model_input = image if self._model_input is None else self._model_input(image)
        logits = tf.cast(self.model(model_input, training=False), tf.float32)
        return tf.gather(logits, classes, batch_dims=1)

    def _ascent_step(self, image, classes, shift):
        shifted = tf.roll(image, shift, axis=[1, 2])
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(shifted)
            scores = self._class_scores(shifted, classes)
            objective = scores[:, 0] - self.l2_weight * tf.reduce_sum(tf.square(shifted), axis=[1, 2, 3])
            total = tf.reduce_sum(objective)  # images are independent: one backward pass for all
        gradient = tape.gradient(total, shifted)
        if self.step_norm == "l2":
            scale = tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=[1, 2, 3], keepdims=True))
        else:
            scale = tf.reduce_mean(tf.abs(gradient), axis=[1, 2, 3], keepdims=True)
        shifted += self.learning_rate * gradient / tf.maximum(scale, 1e-12)
        return self._clip(tf.roll(shifted, -shift, axis=[1, 2])), scores

    def _start(self, init, count: int, shape, seed: int) -> np.ndarray:
        """The first image in the ascent's space (z when `space` is set: string inits are z's
        "zeros" (the mean colour) or N(0, 1) "noise", clipped to the valid range; arrays are x)."""
        if self.space is None:
            return initial_images(init, count, shape, self.value_range, seed)
        if isinstance(init, str):
            start = initial_images(init, count, shape, None, seed)
            return start if self._bounds is None else np.clip(start, *self._bounds).astype(np.float32)
        return self.space.to_z(initial_images(init, count, shape, None, seed))

    def _to_x(self, images: np.ndarray) -> np.ndarray:
        return images if self.space is None else self.space.to_x(images)

    def visualise(self, classes: Sequence[int], image_shape: Sequence[int] | None = None,
                  init="zeros", seed: int = 0, progress: bool = False, snapshots: Sequence[int] = (),
                  on_step: Callable[[int], None] | None = None) -> ClassVisualisation:
        """One image per entry of `classes`; `image_shape` (H,W,C) defaults to the model input's.

        `snapshots`: steps whose images are kept in `result.snapshots` (x space), taken before that
        step's blur, so each is exactly the final image of a run with `iterations` = that step (the
        same seed draws the same jitter): one run of the longest gives every shorter one of a sweep.
        `on_step(step)` is called after every step (progress bars of callers).
        """
        classes = np.asarray(classes, dtype=np.int32).reshape(-1)
        wanted = {int(s) for s in snapshots}
        if any(not 1 <= s <= self.iterations for s in wanted):
            raise ValueError(f"snapshots must be steps 1..{self.iterations}, got {sorted(wanted)}")
        kept: dict[int, np.ndarray] = {}
        if image_shape is None:
            image_shape = tuple(self.model.inputs[0].shape[1:])
            if None in image_shape:
                raise ValueError("the model input has no fixed size; pass image_shape=(H, W, C)")
        image = tf.constant(self._start(init, len(classes), image_shape, seed))
        rng = np.random.default_rng(seed)
        tf_classes = tf.constant(classes[:, None])
        strip, strip_steps, scores = [image.numpy()], [0], []
        for step in tqdm(range(1, self.iterations + 1), desc="class visualisation", disable=not progress):
            shift = rng.integers(-self.jitter, self.jitter + 1, 2) if self.jitter else np.zeros(2)
            image, score = self._step(image, tf_classes, tf.constant(shift, tf.int32))
            scores.append(score.numpy()[:, 0])
            if step in wanted:
                kept[step] = self._to_x(image.numpy())
            if self.blur_every and step % self.blur_every == 0 and step < self.iterations:
                image = self._clip(self._blur(image))
            if step % self.strip_every == 0 or step == self.iterations:
                strip.append(image.numpy())
                strip_steps.append(step)
            if on_step is not None:
                on_step(step)
        scores.append(self._scores(image, tf_classes).numpy()[:, 0])
        return ClassVisualisation(classes, self._to_x(image.numpy()), self._to_x(np.stack(strip)),
                                  np.array(strip_steps), np.stack(scores), kept)


def visualise_classes(model: keras.Model, classes: Sequence[int], *, preprocess: Preprocess | None = None,
                      image_shape: Sequence[int] | None = None, init="zeros", seed: int = 0,
                      progress: bool = False, **options) -> ClassVisualisation:
    """One-call form of `ClassVisualiser(model, preprocess, **options).visualise(...)`."""
    return ClassVisualiser(model, preprocess, **options).visualise(classes, image_shape, init, seed, progress)


def class_logits(model: keras.Model, preprocess: Preprocess | None, images: np.ndarray) -> np.ndarray:
    """Logits of the model on finished images (as they are, no jitter): (K, classes)."""
    x = tf.constant(np.asarray(images, np.float32))
    return tf.cast(model(x if preprocess is None else preprocess(x), training=False), tf.float32).numpy()


def class_probabilities(model: keras.Model, preprocess: Preprocess | None, images: np.ndarray) -> np.ndarray:
    """Softmax of the model on finished images (as they are, no jitter): (K, classes)."""
    return tf.nn.softmax(class_logits(model, preprocess, images)).numpy()


@dataclass
class ClassReport:
    """What one class visualisation ended as: did it work, after how many steps, how far it went."""

    index: int                 # the class the ascent raised
    name: str
    steps: int                 # gradient-ascent steps
    probability: float         # p(class) of the final image, without jitter
    logit: float               # its logit
    top1: int                  # the final image's top-1 class
    top1_name: str
    top1_probability: float
    penalised_l2: float        # the L2 norm the penalty acts on: ||z||_2 (handout), ||x||_2 (rgb)
    change_l2: float           # ||final - start||_2 in RGB [0, 1]
    change_linf: float         # max |final - start| in RGB [0, 1]

    def line(self) -> str:
        mark = "" if self.top1 == self.index else "  (NOT top-1)"
        return (f"class {self.index} {self.name}: p={self.probability:.4f}, top-1 {self.top1} {self.top1_name} "
                f"(p {self.top1_probability:.4f}){mark}; {self.steps} steps, logit {self.logit:.1f}, "
                f"penalised L2 {self.penalised_l2:.1f}, change from the start L2 {self.change_l2:.2f} "
                f"L-inf {self.change_linf:.3f} (RGB [0, 1])")

    def row(self) -> dict:
        return {"class": self.index, "class_name": self.name, "steps": self.steps,
                "p_class": f"{self.probability:.6f}", "logit": f"{self.logit:.4f}", "top1": self.top1,
                "top1_name": self.top1_name, "p_top1": f"{self.top1_probability:.6f}",
                "penalised_l2": f"{self.penalised_l2:.4f}", "change_l2": f"{self.change_l2:.4f}",
                "change_linf": f"{self.change_linf:.4f}"}


def class_reports(classes: Sequence[int], images: np.ndarray, start: np.ndarray, logits: np.ndarray, steps: int,
                  names: Sequence[str], space: NormalisedSpace | None = None) -> list[ClassReport]:
    """One ClassReport per class from its final images (K, H, W, C) in x, the start images and the
    model's logits on the final images (`class_logits`); `space`: where the L2 penalty acted."""
    probabilities = tf.nn.softmax(logits).numpy()
    penalised = images if space is None else space.to_z(images)
    change = (np.asarray(images, np.float32) - np.asarray(start, np.float32)).reshape(len(images), -1)
    reports = []
    for k, index in enumerate(np.asarray(classes).reshape(-1)):
        index, top = int(index), int(np.argmax(logits[k]))
        reports.append(ClassReport(index, names[index], int(steps), float(probabilities[k, index]),
                                   float(logits[k, index]), top, names[top], float(probabilities[k, top]),
                                   float(np.linalg.norm(penalised[k])), float(np.linalg.norm(change[k])),
                                   float(np.abs(change[k]).max())))
    return reports


def output_names(output_dir: str | os.PathLike, classes: Sequence[int], combined: bool = False) -> list[Path]:
    """The files `save_class_visualisation` writes for `classes`."""
    output_dir = Path(output_dir)
    names = [output_dir / "classes.png"] if combined and len(classes) > 1 else []
    return names + [output_dir / f"class_{index}{part}.png" for index in classes for part in ("", "_strip")]


def save_class_visualisation(result: ClassVisualisation, output_dir: str | os.PathLike,
                             names: Sequence[str] | None = None,
                             deprocess: Callable[[np.ndarray], np.ndarray] | None = None,
                             probabilities: np.ndarray | None = None, combined: bool = False) -> list[Path]:
    """Per class: `class_<i>.png` (final image) and `class_<i>_strip.png` (snapshots, logits);
    with `combined` and several classes also `classes.png` (every final image in a row).
    `probabilities` (K, classes), e.g. from `class_probabilities`, adds p(class) to the titles."""
    output_dir = Path(output_dir)
    written = []
    finals = displayable(result.images, deprocess)
    if combined and len(result.classes) > 1:
        fig = Figure(figsize=(2.6 * len(finals), 3.0))
        for k, index in enumerate(result.classes):
            ax = fig.add_subplot(1, len(finals), k + 1)
            ax.imshow(finals[k])
            p = "" if probabilities is None else f"\np {probabilities[k, index]:.3f}"
            ax.set_title(f"{names[index] if names is not None else 'class'} ({index}){p}", fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        written.append(save_figure(fig, output_dir / "classes.png"))
    for k, index in enumerate(result.classes):
        label = names[index] if names is not None else f"class {index}"
        final = output_dir / f"class_{index}.png"
        fig = Figure(figsize=(4, 4.3))
        ax = fig.add_subplot()
        ax.imshow(finals[k])
        p = "" if probabilities is None else f", p {probabilities[k, index]:.3f}"
        ax.set_title(f"{label}\nlogit {result.scores[-1, k]:.2f}{p}", fontsize=9)
        ax.axis("off")
        written.append(save_figure(fig, final))
        frames = displayable(result.strip[:, k], deprocess)
        fig = Figure(figsize=(1.8 * len(frames), 2.2))
        for j, (frame, step) in enumerate(zip(frames, result.strip_steps, strict=True)):
            ax = fig.add_subplot(1, len(frames), j + 1)
            ax.imshow(frame)
            ax.set_title(f"step {step}\nlogit {result.scores[step, k]:.1f}", fontsize=8)
            ax.axis("off")
        fig.suptitle(label, fontsize=9)
        written.append(save_figure(fig, output_dir / f"class_{index}_strip.png"))
    return written


OPTION_NAMES = ("iterations", "learning_rate", "l2_weight", "blur_every", "blur_sigma", "jitter")


def preset_options(preset: str, **overrides) -> dict:
    """The preset's ClassVisualiser options with the given ones (not None) instead."""
    options = dict(PRESETS[preset])
    options.update({key: value for key, value in overrides.items() if value is not None})
    return options


def start_image(init: str | None, preset: str, input_size: int):
    """The --init text as `visualise`'s init: 'zeros', 'noise', a grey image, or a photo's network input
    (default: noise for handout, grey for rgb). ImageReadError for a photo that cannot be read."""
    from utilities.explain.images import load_image
    init = init or ("noise" if preset == "handout" else "grey")
    if init == "grey":
        return np.full((input_size, input_size, 3), 0.5, np.float32)
    if init in ("zeros", "noise"):
        return init
    return load_image(init, input_size).network_input


def resolve_class_arguments(texts: Sequence[str], names: Sequence[str]) -> list[int]:
    """Positional CLASSES: indices or names, each maybe a comma-separated list ("76 gorilla 'tabby cat'")."""
    from utilities.explain.class_lookup import resolve_class_list
    return list(dict.fromkeys(c for text in texts for c in resolve_class_list(text, names, flag="CLASSES")))


def build_parser(model_names: Sequence[str]):
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m utilities.explain.synthesis.class_visualisation",
        description="Class model visualisation (gradient ascent on a class logit). Settings not given "
                    "come from --preset: 'handout' (CS7643/CS231n: normalised image, lr 25 in L2, L2 weight "
                    "1e-3, 100 iterations, blur every 10, jitter 16, from noise; the default for squeezenet) "
                    "or 'rgb' (RGB [0, 1] pixels, mean step 0.01, 200 iterations, jitter 8, from grey; the "
                    "default for the other models)")
    parser.add_argument("classes", nargs="+", help="classes by index or name (e.g. 76 tarantula, 366 gorilla, "
                        "604 hourglass; 'tabby cat' quoted)")
    model_args.add_model_arguments(parser, model_names)   # --model, --weights, --preprocess, --class-names
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="default: handout for squeezenet, rgb for the others")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="step size: L2 length in std units (handout), mean change in RGB [0, 1] (rgb)")
    parser.add_argument("--l2-weight", type=float, default=None)
    parser.add_argument("--blur-every", type=int, default=None)
    parser.add_argument("--blur-sigma", type=float, default=None)
    parser.add_argument("--jitter", type=int, default=None)
    parser.add_argument("--init", default=None,
                        help="zeros, grey, noise, or an image file (default: noise for handout, grey for rgb; "
                             "handout's zeros/noise are the normalised image's: the mean colour / N(0, 1))")
    parser.add_argument("--strip-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="results/class_visualisation")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace pictures of the same classes from an earlier run (default: refuse)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m utilities.explain.synthesis.class_visualisation 76 366 604 --model squeezenet`:
    images + strips per class, and one report line per class (p, top-1, steps, norms)."""
    import sys

    import models
    from utilities.common.output_paths import refuse_existing
    from utilities.explain.images import ImageReadError, unit_rgb_preprocess
    from utilities.explain.model_args import known_input_size, open_network, print_notes
    args = build_parser(models.ALL_MODEL_NAMES).parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    preset = args.preset or default_preset(args.model)
    options = preset_options(preset, **{key: getattr(args, key) for key in OPTION_NAMES})
    try:
        size = known_input_size(args)          # a network: --init read before it is built
        init = start_image(args.init, preset, size) if size else None
        loaded = open_network(args)
        spec, model, names = loaded.spec, loaded.model, loaded.class_names
        shape = (spec.input_size, spec.input_size, 3)
        if size != spec.input_size:
            init = start_image(args.init, preset, spec.input_size)
        classes = resolve_class_arguments(args.classes, names)
        if not args.overwrite:          # before the optimisation: earlier pictures are never replaced silently
            refuse_existing(output_names(args.output_dir, classes, combined=True))
        preprocess = unit_rgb_preprocess(spec.preprocess)
        print_notes(loaded, weights=args.weights, uses_layer=False)
        result = visualise_classes(
            model, classes, preprocess=preprocess, image_shape=shape, init=init, seed=args.seed, progress=True,
            value_range=(0.0, 1.0), strip_every=args.strip_every, **options)
    except (ImageReadError, models.WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logits = class_logits(model, preprocess, result.images)
    written = save_class_visualisation(result, args.output_dir, names, deprocess=lambda x: x,
                                       probabilities=tf.nn.softmax(logits).numpy(), combined=True)
    for report in class_reports(result.classes, result.images, result.strip[0], logits, result.steps, names,
                                options["space"]):
        print(f"{report.line()} ({preset}, {options['iterations']} iterations)")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
