"""Style transfer from two pictures: `stylise` on arrays, `run_style_transfer` on files (the CLI's call).

`stylise` optimises the pixels of one picture so its content-layer features match the content
image's and its style-layer Gram matrices match the style image's (objective.py), starting
from the content, the style or noise, with L-BFGS or Adam (optimizers.py). With
`preserve_colors` it works on luminance alone and puts the content's chroma back (colors.py).
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utilities.style_transfer.colors import luminance, match_luminance, with_content_chroma
from utilities.style_transfer.features import FeatureNetwork, feature_network
from utilities.style_transfer.images import initial_image, load_picture
from utilities.style_transfer.losses import gram_normalises
from utilities.style_transfer.objective import LossTerms, LossWeights, StyleObjective, on_raw_grams, reference_weights
from utilities.style_transfer.optimizers import OnIteration, optimise
from utilities.style_transfer.outputs import (
    OutputPaths,
    save_comparison,
    save_image,
    save_loss_curves,
    write_losses_csv,
    write_run_json,
)
from utilities.style_transfer.presets import preset_for, resolve

INITS = ("content", "style", "noise")


class TransferInterrupted(KeyboardInterrupt):
    """Ctrl-C during the optimisation; str() is one line naming the snapshot that holds the picture so far."""

    def __init__(self, iteration: int, iterations: int, snapshot: Path | None):
        self.iteration, self.iterations, self.snapshot = iteration, iterations, snapshot
        kept = (f"the picture so far is {shown(snapshot)}" if snapshot is not None else "no picture was kept")
        super().__init__(f"stopped after {iteration} of {iterations} iterations; {kept}; "
                         "the same command starts again from the beginning")


def shown(path: str | os.PathLike) -> str:
    """A path as printable text: file-name bytes that are not UTF-8 become U+FFFD (matplotlib refuses them)."""
    return os.fsencode(path).decode("utf-8", "replace")


@dataclass(frozen=True)
class TransferSettings:
    """Everything that decides the picture (the CLI's flags).

    None layers, sizes and weights: the model's preset (presets.py: neural-style's layers and
    weights for VGG, the CS231n/CS7643 handout's for SqueezeNet); weights the preset leaves
    open: neural-style's defaults (objective.reference_weights). `image_size` is the result's
    longest side, `style_size` the style picture's (None: the same as the result's).
    `gram_normalisation`: "handout" (G = F^T F / (H*W*C)) or "paper" (raw F^T F); with "paper"
    the style weights the user did not give (defaults, preset) are rewritten for raw Gram
    matrices (objective.on_raw_grams), given ones apply to the raw form as they are.
    """

    model: str = "vgg16"
    weights: str = "imagenet"
    image_size: int | None = None
    content_layer: str | None = None
    style_layers: tuple[str, ...] | None = None
    content_weight: float | None = None
    style_weights: tuple[float, ...] | None = None
    tv_weight: float | None = None
    iterations: int = 500
    init: str = "content"
    optimizer: str = "lbfgs"
    learning_rate: float = 10.0
    preserve_colors: bool = False
    precision: str = "float32"
    seed: int = 0
    save_every: int = 100
    progress: bool = True
    style_size: int | None = None
    gram_normalisation: str = "handout"


@dataclass
class TransferResult:
    """The stylised picture (float RGB 0..255), the losses per iteration and the weights used."""

    image: np.ndarray
    history: list[LossTerms]
    weights: LossWeights
    initial: LossTerms
    final: LossTerms
    seconds: float
    snapshots: dict[int, Path] = field(default_factory=dict)
    settings: TransferSettings | None = None   # as resolved (the preset's values filled in)
    from_preset: tuple[str, ...] = ()          # the settings the model's preset filled


def stylise(network: FeatureNetwork, content: np.ndarray, style: np.ndarray, settings: TransferSettings,
            *, on_iteration: OnIteration | None = None) -> TransferResult:
    """Optimise a picture of the content's size; content and style are float RGB 0..255 (h, w, 3).

    `on_iteration(iteration, losses, image)` as in optimizers.py (True stops the run). Weights
    left None come from the model's preset when the network's layers are the preset's (content
    and TV weights for the content's size).
    """
    started = time.perf_counter()
    raw_gram = not gram_normalises(settings.gram_normalisation)
    style_given = settings.style_weights is not None   # by the caller, before the preset fills anything
    settings, from_preset = resolve(dataclasses.replace(settings, content_layer=network.content_layer,
                                                        style_layers=tuple(network.style_layers),
                                                        image_size=max(content.shape[:2])))
    if settings.preserve_colors:
        content_y = luminance(content)
        target_content, target_style = content_y, match_luminance(luminance(style), content_y)
        init = luminance(initial_image(settings.init, content, style, settings.seed))
    else:
        target_content, target_style = content, style
        init = initial_image(settings.init, content, style, settings.seed)
    weights = reference_weights(network, content.shape, content=settings.content_weight,
                                style=settings.style_weights, tv=settings.tv_weight)
    if raw_gram and not style_given:
        weights = dataclasses.replace(weights, style=on_raw_grams(network, content.shape, weights.style))
    objective = StyleObjective(network, target_content, target_style, weights, settings.gram_normalisation)
    to_rgb = (lambda y: with_content_chroma(y, content)) if settings.preserve_colors else (lambda x: x)
    initial = objective.evaluate(init)
    history: list[LossTerms] = []

    def record(iteration: int, terms: LossTerms, image: Callable[[], np.ndarray]) -> bool | None:
        history.append(terms)
        return on_iteration(iteration, terms, lambda: to_rgb(image())) if on_iteration else None

    result = optimise(settings.optimizer, objective, init, settings.iterations,
                      learning_rate=settings.learning_rate, on_iteration=record)
    final = objective.evaluate(result)
    return TransferResult(to_rgb(result), history, weights, initial, final, time.perf_counter() - started,
                          settings=settings, from_preset=from_preset)


def default_output(content: str | Path, style: str | Path, root: str | Path = "results/style_transfer") -> Path:
    """results/style_transfer/<content stem>_x_<style stem>.png"""
    return Path(root) / f"{Path(content).stem}_x_{Path(style).stem}.png"


def _progress(settings: TransferSettings):
    from tqdm.auto import tqdm

    return tqdm(total=settings.iterations, desc=f"style transfer ({settings.optimizer})", unit="it",
                disable=not settings.progress, dynamic_ncols=True)


def run_style_transfer(content_path: str | Path, style_path: str | Path, output: str | Path | None,
                       settings: TransferSettings, *, network: FeatureNetwork | None = None) -> TransferResult:
    """Read both pictures, build the network (unless given), stylise, write the result and its companions.

    Layers, sizes and weights left None come from the model's preset (presets.py).
    """
    gram_normalises(settings.gram_normalisation)   # an unknown form: ValueError before any work
    given = settings
    settings, from_preset = resolve(settings)
    content = load_picture(content_path, settings.image_size, "content")
    style = load_picture(style_path, settings.style_size or settings.image_size, "style")
    paths = OutputPaths(Path(output) if output else default_output(content_path, style_path))
    if network is None:
        network = feature_network(settings.model, settings.weights, settings.content_layer,
                                  settings.style_layers, precision=settings.precision)
    snapshots: dict[int, Path] = {}
    latest: dict = {"iteration": 0, "image": None}
    bar = _progress(settings)

    def on_iteration(iteration: int, terms: LossTerms, image: Callable[[], np.ndarray]) -> None:
        latest.update(iteration=iteration, image=image)
        bar.update(1)
        bar.set_postfix(content=f"{terms.content:.3g}", style=f"{terms.style:.3g}", tv=f"{terms.tv:.3g}",
                        refresh=False)
        if settings.save_every and iteration % settings.save_every == 0:
            snapshots[iteration] = save_image(image(), paths.step(iteration))

    try:
        # the settings as given: stylise tells the caller's style weights from the preset's
        result = stylise(network, content, style, dataclasses.replace(given, style_size=settings.style_size),
                         on_iteration=on_iteration)
    except KeyboardInterrupt:
        bar.close()
        raise TransferInterrupted(latest["iteration"], settings.iterations,
                                  _keep_latest(latest, snapshots, paths)) from None
    finally:
        bar.close()
    result.snapshots = snapshots
    result.from_preset = tuple(dict.fromkeys((*from_preset, *result.from_preset)))
    title = _title(content_path, style_path, settings, result)
    save_image(result.image, paths.result)
    save_comparison(content, style, result.image, paths.comparison, title)
    save_loss_curves(result.initial, result.history, paths.losses_figure, title)
    write_losses_csv(result.initial, result.history, paths.losses_csv)
    write_run_json(_record(content_path, style_path, result.settings, result, content.shape), paths.run_json)
    return result


def _keep_latest(latest: dict, snapshots: dict[int, Path], paths: OutputPaths) -> Path | None:
    """After Ctrl-C: the picture of the last finished iteration as a snapshot (or the last one saved)."""
    iteration = latest["iteration"]
    if iteration in snapshots:
        return snapshots[iteration]
    if latest["image"] is not None:
        try:
            return save_image(latest["image"](), paths.step(iteration))
        except (OSError, ValueError):   # a full disk: fall back on the last snapshot written
            pass
    return snapshots[max(snapshots)] if snapshots else None


def _title(content_path, style_path, settings: TransferSettings, result: TransferResult) -> str:
    weights = ("random weights" if settings.weights == "random"
               else f"weights {shown(Path(str(settings.weights)).name)}")
    return (f"{shown(Path(content_path).name)} in the style of {shown(Path(style_path).name)}: "
            f"{settings.model} ({weights}), "
            f"{settings.optimizer}, {len(result.history)} iterations"
            + (", colours preserved" if settings.preserve_colors else "")
            + (", raw Gram matrices (paper)" if not gram_normalises(settings.gram_normalisation) else ""))


def _record(content_path, style_path, settings: TransferSettings, result: TransferResult,
            shape: Sequence[int]) -> dict:
    return {
        "content": str(content_path), "style": str(style_path),
        "settings": dataclasses.asdict(settings),
        "preset": {"model": settings.model, "source": preset_for(settings.model, settings.weights).source,
                   "filled": list(result.from_preset)},
        "image_shape": [int(s) for s in shape],
        "loss_weights": dataclasses.asdict(result.weights),
        "initial_losses": {**dataclasses.asdict(result.initial), "total": result.initial.total},
        "final_losses": {**dataclasses.asdict(result.final), "total": result.final.total},
        "iterations_run": len(result.history),
        "seconds": round(result.seconds, 3),
        "snapshots": {str(k): str(v) for k, v in sorted(result.snapshots.items())},
    }
