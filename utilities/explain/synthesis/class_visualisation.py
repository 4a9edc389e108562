"""Class model visualisation (Simonyan 2014, Yosinski 2015): an image the network finds most "class c".

Gradient ascent on the image I for  S_c(I) - l2_weight * ||I||^2  (S_c a class *logit*: the
softmax could also rise by lowering the other classes). Yosinski's regularisers keep the
result natural-looking: a random jitter (roll the image, step, roll back) each iteration and
a Gaussian blur every `blur_every` steps. Each step moves pixels by `learning_rate` on average
(the gradient is divided by its mean |.|), so one setting works across models and scales.

Images live in the space of what you would pass the model (`preprocess` applied inside),
e.g. RGB in [0, 1] with `value_range=(0, 1)` keeping them valid. One image per class, all
classes in one batch; each step is one traced call.
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
from tqdm.auto import tqdm

from utilities.common.figures import save_figure
from utilities.explain._blur import gaussian_blur
from utilities.explain.base import Preprocess
from utilities.explain.plotting import displayable


@dataclass
class ClassVisualisation:
    """Result of `visualise_classes`, all numpy, in the input space (before `preprocess`)."""

    classes: np.ndarray       # (K,)
    images: np.ndarray        # (K, H, W, C) final images
    strip: np.ndarray         # (S, K, H, W, C) snapshots at `strip_steps`
    strip_steps: np.ndarray   # (S,) iteration of each snapshot (0 = the start image)
    scores: np.ndarray        # (iterations + 1, K) target logit before each step and at the end


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
        value_range: (low, high) the image is clipped to after every step; None: no clipping.
        strip_every: snapshot period for the iteration strip.
    """

    def __init__(self, model: keras.Model, preprocess: Preprocess | None = None, *,
                 iterations: int = 200, learning_rate: float = 1.0, l2_weight: float = 1e-3,
                 blur_every: int = 10, blur_sigma: float = 0.5, jitter: int = 8,
                 value_range: tuple[float, float] | None = None, strip_every: int = 25):
        if iterations < 1 or learning_rate <= 0 or l2_weight < 0 or blur_every < 0 or jitter < 0:
            raise ValueError("need iterations >= 1, learning_rate > 0, l2_weight >= 0, "
                             "blur_every >= 0 and jitter >= 0")
        if strip_every < 1:
            raise ValueError(f"strip_every must be >= 1, got {strip_every}")
        self.model, self.preprocess = model, preprocess
        self.iterations, self.learning_rate, self.l2_weight = iterations, learning_rate, l2_weight
        self.blur_every, self.blur_sigma, self.jitter = blur_every, blur_sigma, jitter
        self.value_range, self.strip_every = value_range, strip_every
        self._step = tf.function(self._ascent_step, reduce_retracing=True)
        self._blur = tf.function(lambda x: gaussian_blur(x, blur_sigma), reduce_retracing=True)
        self._scores = tf.function(self._class_scores, reduce_retracing=True)

    def _class_scores(self, image, classes):
        model_input = image if self.preprocess is None else self.preprocess(image)
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
        scale = tf.reduce_mean(tf.abs(gradient), axis=[1, 2, 3], keepdims=True)
        shifted += self.learning_rate * gradient / tf.maximum(scale, 1e-12)
        image = tf.roll(shifted, -shift, axis=[1, 2])
        if self.value_range is not None:
            image = tf.clip_by_value(image, *self.value_range)
        return image, scores

    def visualise(self, classes: Sequence[int], image_shape: Sequence[int] | None = None,
                  init="zeros", seed: int = 0, progress: bool = False) -> ClassVisualisation:
        """One image per entry of `classes`; `image_shape` (H,W,C) defaults to the model input's."""
        classes = np.asarray(classes, dtype=np.int32).reshape(-1)
        if image_shape is None:
            image_shape = tuple(self.model.inputs[0].shape[1:])
            if None in image_shape:
                raise ValueError("the model input has no fixed size; pass image_shape=(H, W, C)")
        image = tf.constant(initial_images(init, len(classes), image_shape, self.value_range, seed))
        rng = np.random.default_rng(seed)
        tf_classes = tf.constant(classes[:, None])
        strip, strip_steps, scores = [image.numpy()], [0], []
        for step in tqdm(range(1, self.iterations + 1), desc="class visualisation", disable=not progress):
            shift = rng.integers(-self.jitter, self.jitter + 1, 2) if self.jitter else np.zeros(2)
            image, score = self._step(image, tf_classes, tf.constant(shift, tf.int32))
            scores.append(score.numpy()[:, 0])
            if self.blur_every and step % self.blur_every == 0 and step < self.iterations:
                image = self._blur(image)
                if self.value_range is not None:
                    image = tf.clip_by_value(image, *self.value_range)
            if step % self.strip_every == 0 or step == self.iterations:
                strip.append(image.numpy())
                strip_steps.append(step)
        scores.append(self._scores(image, tf_classes).numpy()[:, 0])
        return ClassVisualisation(classes, image.numpy(), np.stack(strip), np.array(strip_steps),
                                  np.stack(scores))


def visualise_classes(model: keras.Model, classes: Sequence[int], *, preprocess: Preprocess | None = None,
                      image_shape: Sequence[int] | None = None, init="zeros", seed: int = 0,
                      progress: bool = False, **options) -> ClassVisualisation:
    """One-call form of `ClassVisualiser(model, preprocess, **options).visualise(...)`."""
    return ClassVisualiser(model, preprocess, **options).visualise(classes, image_shape, init, seed, progress)


def save_class_visualisation(result: ClassVisualisation, output_dir: str | os.PathLike,
                             names: Sequence[str] | None = None,
                             deprocess: Callable[[np.ndarray], np.ndarray] | None = None) -> list[Path]:
    """Per class: `class_<i>.png` (final image) and `class_<i>_strip.png` (snapshots, logits)."""
    output_dir = Path(output_dir)
    written = []
    for k, index in enumerate(result.classes):
        label = names[index] if names is not None else f"class {index}"
        final = output_dir / f"class_{index}.png"
        fig = Figure(figsize=(4, 4.3))
        ax = fig.add_subplot()
        ax.imshow(displayable(result.images[k], deprocess))
        ax.set_title(f"{label}\nlogit {result.scores[-1, k]:.2f}", fontsize=9)
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


def main(argv: list[str] | None = None) -> int:
    """`python -m utilities.explain.synthesis.class_visualisation 130 76 --model vgg16`: images + strips per class."""
    import argparse
    import sys
    parser = argparse.ArgumentParser(description="Class model visualisation (gradient ascent)")
    parser.add_argument("classes", type=int, nargs="+", help="class indices")
    parser.add_argument("--model", choices=("vgg16", "alexnet"), default="vgg16")
    parser.add_argument("--weights", default="imagenet", help="imagenet, random or a weight file")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.01, help="mean change per step (RGB [0, 1])")
    parser.add_argument("--l2-weight", type=float, default=1e-3)
    parser.add_argument("--blur-every", type=int, default=10)
    parser.add_argument("--blur-sigma", type=float, default=0.5)
    parser.add_argument("--jitter", type=int, default=8)
    parser.add_argument("--init", default="grey", help="zeros (black), grey, noise, or an image file")
    parser.add_argument("--strip-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="results/class_visualisation")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import models
    from utilities.common.imagenet_classes import class_names
    from utilities.explain.images import ImageReadError, load_image, unit_rgb_preprocess
    try:
        spec = models.get_spec(args.model)
        shape = (spec.input_size, spec.input_size, 3)
        init = args.init
        if init == "grey":
            init = np.full(shape, 0.5, np.float32)
        elif init not in ("zeros", "noise"):
            init = load_image(init, spec.input_size).network_input
        model = models.build_model(args.model, weights=args.weights)
        num_classes = int(model.output.shape[-1])
        if any(not 0 <= c < num_classes for c in args.classes):
            raise ValueError(f"class indices must be in [0, {num_classes})")
        result = visualise_classes(
            model, args.classes, preprocess=unit_rgb_preprocess(spec.preprocess), image_shape=shape,
            init=init, seed=args.seed, progress=True, iterations=args.iterations,
            learning_rate=args.learning_rate, l2_weight=args.l2_weight, blur_every=args.blur_every,
            blur_sigma=args.blur_sigma, jitter=args.jitter, value_range=(0.0, 1.0),
            strip_every=args.strip_every)
    except (ImageReadError, models.WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = class_names(num_classes)
    for path in save_class_visualisation(result, args.output_dir, names, deprocess=lambda x: x):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
