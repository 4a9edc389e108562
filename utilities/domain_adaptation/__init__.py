"""Domain adaptation with a gradient reversal layer (DANN): MNIST -> MNIST-M, or digits -> blended digits.

`run_experiment(Config(...))` trains one run (source-only, DANN, pseudo-labelling) and writes its
CSV, TensorBoard logs, checkpoints and feature figure; `compare` runs the handout's four variants
over several seeds. The target domains are built by `mnistm` (MNIST + BSDS500, cached) and
`domains.blended_digits` (offline); networks come from `models.dann`.
"""
from utilities.domain_adaptation.blend import blend_with_photos
from utilities.domain_adaptation.bsds import BSDS_URL, PhotosUnavailable
from utilities.domain_adaptation.compare import VARIANTS, Comparison, compare
from utilities.domain_adaptation.domains import DomainPair, load_domains
from utilities.domain_adaptation.experiment import (
    MODES,
    Config,
    ExperimentError,
    NonFiniteLoss,
    OutputWriteError,
    RunResult,
    run_experiment,
)
from utilities.domain_adaptation.mnistm import load_mnistm
from utilities.domain_adaptation.schedules import AnnealedLearningRate, LambdaSchedule, parse_lambda

__all__ = ["BSDS_URL", "MODES", "VARIANTS", "AnnealedLearningRate", "Comparison", "Config", "DomainPair",
           "ExperimentError", "LambdaSchedule", "NonFiniteLoss", "OutputWriteError", "PhotosUnavailable", "RunResult",
           "blend_with_photos", "compare", "load_domains", "load_mnistm", "parse_lambda", "run_experiment"]
