"""The methods of the "more explanations" issue, for `explain_folder.METHODS` (--methods).

    from utilities.methods_registry_extra import EXTRA_METHODS, takes_layer
    METHODS.update(EXTRA_METHODS)

Class-map methods (`CAM` subclasses: gradcam_pp, scorecam) are shown for each top-k class;
the others are input attributions shown for the top-1 class. `guided_gradcam` is an input
attribution that *also* needs the conv layer: build it with `layer=` (see `takes_layer`).
`random` and `edges` are the evaluation baselines, also viewable as methods.
Defaults (SmoothGrad 25 samples, IG 32 steps, Score-CAM one forward pass per channel) are
the classes' own; costs relative to vanilla saliency are in bench/explain_methods_bench.py.
"""
from __future__ import annotations

import inspect

from utilities.cam_variants import GradCAMPlusPlus, ScoreCAM
from utilities.evaluation.baselines import EdgeMap, RandomMap
from utilities.explanation import Explainer
from utilities.guided_backprop import GuidedBackprop, GuidedGradCAM
from utilities.integrated_gradients import IntegratedGradients
from utilities.smoothgrad import SmoothGrad, SmoothGradSquared, VarGrad

EXTRA_METHODS: dict[str, type[Explainer]] = {cls.name: cls for cls in (
    SmoothGrad, SmoothGradSquared, VarGrad, IntegratedGradients, GuidedBackprop, GuidedGradCAM,
    GradCAMPlusPlus, ScoreCAM, RandomMap, EdgeMap)}


def takes_layer(cls: type[Explainer]) -> bool:
    """Whether the method's constructor has a `layer` argument (CAMs and Guided Grad-CAM)."""
    return "layer" in inspect.signature(cls.__init__).parameters
