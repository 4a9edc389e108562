"""Evaluating explanation maps: deletion/insertion curves, model randomisation, baselines.

    from utilities.explain.metrics import evaluate_methods
    report = evaluate_methods(model, images, lambda m: {"saliency": VanillaGradient(m)})
    print(report.format_table())
"""
from utilities.explain.baselines import EdgeMap, RandomMap
from utilities.explain.metrics.deletion_insertion import Curves, CurveScorer, deletion_insertion, pixel_ranks
from utilities.explain.metrics.randomisation import (
                                                RandomisationResult,
                                                cascading_randomisation,
                                                model_randomisation,
                                                spearman,
)
from utilities.explain.metrics.report import EvaluationReport, evaluate_methods, save_evaluation

__all__ = ["CurveScorer", "Curves", "EdgeMap", "EvaluationReport", "RandomMap", "RandomisationResult",
           "cascading_randomisation", "deletion_insertion", "evaluate_methods", "model_randomisation",
           "pixel_ranks", "save_evaluation", "spearman"]
