"""The registry of explanation methods behind `assignment_3b.py --methods`.

Name -> Explainer class. Input-attribution methods (`Saliency` subclasses and the like) are
shown for the top-1 class; class-map methods (`CAM` subclasses) for each of the top-k
classes. Methods whose constructor takes `layer` (CAMs, Guided Grad-CAM) get the conv layer.
Per-method settings that users tune (SmoothGrad samples, IG steps, Score-CAM channels) come
in through `method_options`.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import keras

from utilities.explain.base import CAM, Explainer, ExplainSetupError
from utilities.explain.baselines import EdgeMap, RandomMap
from utilities.explain.gradcam import GradCAM
from utilities.explain.gradcam_plusplus import GradCAMPlusPlus
from utilities.explain.gradient_x_input import GradientXInput
from utilities.explain.guided_backprop import GuidedBackprop
from utilities.explain.guided_gradcam import GuidedGradCAM
from utilities.explain.integrated_gradients import IntegratedGradients
from utilities.explain.layercam import LayerCAM
from utilities.explain.occlusion import Occlusion
from utilities.explain.saliency import VanillaGradient
from utilities.explain.scorecam import ScoreCAM
from utilities.explain.smoothgrad import SmoothGrad, SmoothGradSquared, VarGrad

CORE_METHODS: dict[str, type[Explainer]] = {"saliency": VanillaGradient, "gradcam": GradCAM}
EXTRA_METHODS: dict[str, type[Explainer]] = {cls.name: cls for cls in (
    SmoothGrad, SmoothGradSquared, VarGrad, IntegratedGradients, GradientXInput, GuidedBackprop,
    GuidedGradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, Occlusion, RandomMap, EdgeMap)}
METHODS: dict[str, type[Explainer]] = {**CORE_METHODS, **EXTRA_METHODS}
DEFAULT_METHODS = ("saliency", "gradcam")


class UnknownMethodError(ExplainSetupError):
    """A --methods name that is not in the registry."""


def parse_methods(text: str | Sequence[str]) -> list[str]:
    """"saliency,gradcam" -> ["saliency", "gradcam"], checked against METHODS."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise UnknownMethodError(f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
                                 f"--methods takes a comma-separated list of: {', '.join(METHODS)}")
    return names


def is_class_map(method: str) -> bool:
    """Class maps (Grad-CAM family) are drawn for every top-k class."""
    return issubclass(METHODS[method], CAM)


def takes_layer(cls: type[Explainer]) -> bool:
    """Whether the method needs the conv layer: `layer` in its constructor."""
    return "layer" in inspect.signature(cls.__init__).parameters


def _accepted(cls: type[Explainer], options: Mapping) -> dict:
    parameters = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in options.items() if k in parameters}


def build_explainers(model: keras.Model, methods: Sequence[str], preprocess: Callable,
                     layer: str | None, batch_size: int,
                     method_options: Mapping[str, Mapping] | None = None) -> dict[str, Explainer]:
    """One explainer per method, class-map methods first (they rank the classes)."""
    method_options = method_options or {}
    explainers = {}
    for method in sorted(methods, key=lambda m: not is_class_map(m)):
        cls = METHODS[method]
        options = dict(_accepted(cls, method_options.get(method, {})))
        if takes_layer(cls):
            options["layer"] = layer
        explainers[method] = cls(model, preprocess=preprocess, batch_size=batch_size, **options)
    return explainers


def explainer_factory(methods: Sequence[str], preprocess: Callable, layer: str | None, batch_size: int,
                      method_options: Mapping[str, Mapping] | None = None
                      ) -> Callable[[keras.Model], dict[str, Explainer]]:
    """model -> {name: Explainer}: rebuilds the same methods on another (e.g. randomised) model."""
    methods = parse_methods(methods)
    return lambda model: build_explainers(model, methods, preprocess, layer, batch_size, method_options)
