"""`assignment_3b.py --evaluate`: evaluate the chosen methods on a folder of photos.

Loads the folder the way `explain_folder` does (same loader, same one-line reasons for bad
files, RGB [0, 1] network input with the model's preprocessing inside the explainers),
builds the methods from the registry (`utilities.explain.registry.METHODS`), and runs
`evaluate_methods`; the table and plots go to `output_dir`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from utilities.explain.base import ExplainSetupError
from utilities.explain.folder import FolderPlan, plan_folder
from utilities.explain.images import ImageReadError, load_image, unit_rgb_preprocess
from utilities.explain.metrics.report import EvaluationReport, evaluate_methods
from utilities.explain.registry import explainer_factory


def evaluate_folder(folder: str | os.PathLike | FolderPlan, model: keras.Model, *, preprocess: Callable,
                    input_size: int, layer: str | None, methods: Sequence[str] = (), batch_size: int = 8,
                    output_dir: str | os.PathLike = "results/evaluation", steps: int = 32,
                    randomisation_stages: int | None = 4, max_images: int | None = None,
                    method_options: dict | None = None, echo: Callable[[str], None] = print) -> EvaluationReport:
    """Evaluate `methods` on the images of `folder` (each image's top-1 class on `model`).

    `preprocess` maps RGB float 0..255 to the model input (ModelSpec.preprocess), as for
    `explain_folder`. Unreadable images are reported and skipped; ExplainSetupError when no
    image is left or a method is unknown. `folder` may be a `plan_folder` plan (then its methods
    are evaluated); `randomisation_stages=0` skips the randomisation check, None randomises
    every layer.
    """
    plan = folder if isinstance(folder, FolderPlan) else plan_folder(folder, methods)
    paths, methods = plan.images, plan.methods
    loaded = []
    for path in paths[:max_images] if max_images else paths:
        try:
            loaded.append(load_image(path, input_size).network_input)
        except ImageReadError as exc:
            echo(f"FAILED {Path(path).name}: {exc}")
    if not loaded:
        raise ExplainSetupError(f"no readable image in {folder} to evaluate")
    unit_preprocess = unit_rgb_preprocess(preprocess)
    make_explainers = explainer_factory(methods, unit_preprocess, layer, batch_size, method_options)
    echo(f"evaluating {', '.join(methods)} (+ random and edge baselines) on {len(loaded)} image(s)")
    return evaluate_methods(model, np.stack(loaded), make_explainers, preprocess=unit_preprocess,
                            steps=steps, randomisation_stages=randomisation_stages,
                            output_dir=output_dir, echo=echo)
