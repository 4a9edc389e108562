"""Model-randomisation sanity check (Adebayo et al. 2018): does the map depend on the weights?

Cascading randomisation: starting at the logits, the weights of one more layer at a time
(top-down) are replaced by random values, and each method's maps on the damaged model are
compared with its maps on the intact one by Spearman rank correlation. A method that explains
the *model* must lose the correlation as layers are destroyed; one that stays correlated is
showing the image (edges), whatever it claims.

Randomised weights are drawn from a normal distribution with the mean and standard deviation
of the original tensor (the scale of activations is kept, the learnt structure is gone);
non-trainable state (BatchNorm statistics) is left alone. Work happens on a clone: the
user's model is never modified. A map that is constant carries no ranking and counts as
correlation 0.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
from scipy.stats import rankdata

from utilities.explain.base import Explainer

ExplainerFactory = Callable[[keras.Model], Mapping[str, Explainer]]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (flattened); 0 when either is constant."""
    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def weighted_layers(model: keras.Model, prefix: str = "") -> list[tuple[str, keras.layers.Layer]]:
    """(path, layer) of every layer with trainable weights, input to output, through nesting."""
    found = []
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model):
            found += weighted_layers(layer, prefix=f"{path}/")
        elif any(w.trainable for w in layer.weights):
            found.append((path, layer))
    return found


def clone_with_weights(model: keras.Model) -> keras.Model:
    """An independent copy (new layers, same names, same weights), every layer unfrozen so its
    learnt weights count as trainable even when the user froze them (fine-tuning)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    _unfreeze(copy)
    return copy


def _unfreeze(model: keras.Model) -> None:
    model.trainable = True
    for layer in model.layers:  # the setter does not always reach into nested models
        layer.trainable = True
        if isinstance(layer, keras.Model):
            _unfreeze(layer)


def randomise_layer(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    """Replace each trainable weight by N(mean, std) of its own values."""
    for variable in layer.weights:
        if not variable.trainable:
            continue
        values = np.asarray(variable.numpy(), dtype=np.float64)
        fresh = rng.normal(values.mean(), values.std(), values.shape)
        variable.assign(fresh.astype(variable.dtype))


def stage_layers(model: keras.Model, stages: int | Sequence[str] | None) -> list[str]:
    """The layer paths after which to measure, top-down: all, `stages` evenly spread, or named."""
    paths = [path for path, _ in weighted_layers(model)][::-1]
    if not paths:
        raise ValueError(f"model '{model.name}' has no trainable weights to randomise")
    if stages is None:
        return paths
    if isinstance(stages, int):
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        picks = np.unique(np.round(np.linspace(0, len(paths) - 1, min(stages, len(paths)))).astype(int))
        return [paths[i] for i in picks]
    unknown = [s for s in stages if s not in paths]
    if unknown:
        raise ValueError(f"cannot randomise {unknown}: layers with weights are {paths[::-1]}")
    return sorted(stages, key=paths.index)


def cascading_randomisation(model: keras.Model, stages: int | Sequence[str] | None = None,
                            seed: int = 0) -> Iterator[tuple[str, keras.Model]]:
    """Yield (last randomised layer, copy) with every layer from the top down to it randomised.

    One copy is randomised further at each stage (cascading), so use each before the next.
    """
    copy = clone_with_weights(model)
    layers = dict(weighted_layers(copy))
    rng = np.random.default_rng(seed)
    wanted = stage_layers(copy, stages)
    done = 0
    order = [path for path, _ in weighted_layers(copy)][::-1]
    for target in wanted:
        while done <= order.index(target):
            randomise_layer(layers[order[done]], rng)
            done += 1
        yield target, copy


@dataclass
class RandomisationResult:
    """Spearman correlation of each method's maps with its maps on the intact model."""

    stages: list[str]                        # last randomised layer, top-down
    correlations: dict[str, np.ndarray]      # method -> (stages, N)
    maps: dict[str, np.ndarray]              # method -> (stages + 1, h, w) maps of image 0

    def mean(self, method: str) -> np.ndarray:
        return self.correlations[method].mean(axis=1)


def model_randomisation(model: keras.Model, images, make_explainers: ExplainerFactory, classes,
                        *, stages: int | Sequence[str] | None = 4, seed: int = 0,
                        progress: Callable[[str], None] | None = None) -> RandomisationResult:
    """Run the cascade: maps of `images` for `classes` (N,) under `make_explainers(model)`.

    `make_explainers(model) -> {name: Explainer}` is called on the intact model and on each
    randomised copy (so explainers are built for, and only ever see, that copy).
    """
    images = np.asarray(images, dtype=np.float32)
    classes = np.asarray(classes, dtype=np.int32).reshape(-1, 1)
    original = {name: e.explain(images, classes).maps[:, 0] for name, e in make_explainers(model).items()}
    correlations = {name: [] for name in original}
    examples = {name: [maps[0]] for name, maps in original.items()}
    names = []
    for layer, copy in cascading_randomisation(model, stages, seed):
        if progress:
            progress(layer)
        names.append(layer)
        for name, explainer in make_explainers(copy).items():
            maps = explainer.explain(images, classes).maps[:, 0]
            correlations[name].append([spearman(a, b) for a, b in zip(original[name], maps, strict=True)])
            examples[name].append(maps[0])
    return RandomisationResult(names, {n: np.array(c) for n, c in correlations.items()},
                               {n: np.stack(m) for n, m in examples.items()})
