"""Evaluating explanation maps: deletion/insertion curves, model randomisation, baselines.

    from utilities.evaluation import evaluate_methods
    report = evaluate_methods(model, images, lambda m: {"saliency": VanillaGradient(m)})
    print(report.format_table())
"""
from utilities.evaluation.baselines import EdgeMap, RandomMap
from utilities.evaluation.deletion_insertion import CurveScorer, Curves, deletion_insertion, pixel_ranks
from utilities.evaluation.randomisation import (RandomisationResult, cascading_randomisation,
                                                model_randomisation, spearman)
from utilities.evaluation.report import EvaluationReport, evaluate_methods, save_evaluation

__all__ = ["CurveScorer", "Curves", "EdgeMap", "EvaluationReport", "RandomMap", "RandomisationResult",
           "cascading_randomisation", "deletion_insertion", "evaluate_methods", "model_randomisation",
           "pixel_ranks", "save_evaluation", "spearman"]
