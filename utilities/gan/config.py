"""The settings of one GAN run (what `gan.py` parses) and the part of them `--resume` must match."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS = ("dcgan", "cdcgan")
GAN_DATASETS = ("digits", "mnist", "mnist5k")
DEFAULT_EPOCHS = {"mnist": 5, "digits": 100, "mnist5k": 75}
"""Epochs when --epochs is not given: MNIST's 469 steps per epoch make 5 epochs about 2,300 steps
(the order of magnitude of a DCGAN-on-MNIST exercise); the 1,347 bundled training digits give 10 steps per epoch,
the 4,000 real digits of mnist5k 31 (75 epochs: about 2,300 steps)."""

DEFAULT_LR_VALUES = (2e-4, 1e-3)
"""The learning rates `--compare-lr` tries for D and for G (every pair: 2 x 2 = 4 runs): DCGAN's 2e-4 and five
times it, the rate at which the handout's runs start to go wrong."""

# Changing these would make a different experiment: --resume refuses it (RunCheckpoint names them).
RESUME_KEYS = ("model", "dataset", "latent_dim", "width", "batch_size", "lr_g", "lr_d", "beta1", "g_loss", "seed")


class UsageError(ValueError):
    """A flag or input the run cannot use; the message names it and says what to do (exit code 2)."""


@dataclass(frozen=True)
class GanConfig:
    """One run. Defaults are the DCGAN paper's: Adam(2e-4, beta1=0.5), batch 128, z ~ N(0, 1) of 100."""

    model: str = "dcgan"
    dataset: str = "digits"
    epochs: int | None = None
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    latent_dim: int = 100
    width: int = 32
    g_loss: str = "non-saturating"
    seed: int = 0
    eval_samples: int = 1000
    results_dir: Path = Path("results/gan")
    logdir: Path = Path("logs/gan")
    classifier_dir: Path | None = None
    run_name: str | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    progress_epochs: tuple[int, ...] | None = None   # rows of progress.png; None: auto_progress_epochs
    progress_steps: tuple[int, ...] = ()              # extra rows at these global steps (0: before training)
    compare_lr: bool = False
    lr_d_values: tuple[float, ...] = DEFAULT_LR_VALUES
    lr_g_values: tuple[float, ...] = DEFAULT_LR_VALUES

    @property
    def conditional(self) -> bool:
        return self.model == "cdcgan"

    @property
    def total_epochs(self) -> int:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.dataset]

    @property
    def name(self) -> str:
        return self.run_name or f"{self.model}_{self.dataset}" + ("_lr" if self.compare_lr else "")

    @property
    def run_dir(self) -> Path:
        return Path(self.results_dir) / self.name

    @property
    def judge_dir(self) -> Path:
        return Path(self.classifier_dir) if self.classifier_dir else Path(self.results_dir) / "classifier"

    @property
    def progress_rows(self) -> tuple[int, ...]:
        """The epochs shown in progress.png."""
        return self.progress_epochs if self.progress_epochs is not None else auto_progress_epochs(self.total_epochs)

    def resume_settings(self) -> dict[str, Any]:
        """The settings run.json records and `--resume` compares."""
        return {key: getattr(self, key) for key in RESUME_KEYS}

    def validate(self) -> GanConfig:
        """Raise UsageError naming the first unusable flag."""
        from utilities.gan.losses import G_LOSSES
        checks = [
            (self.model in MODELS, f"--model {self.model!r}: choose one of {', '.join(MODELS)}"),
            (self.dataset in GAN_DATASETS, f"--dataset {self.dataset!r}: choose one of {', '.join(GAN_DATASETS)}"),
            (self.g_loss in G_LOSSES, f"--g-loss {self.g_loss!r}: choose one of {', '.join(G_LOSSES)}"),
            (self.epochs is None or self.epochs >= 1, f"--epochs {self.epochs}: must be at least 1"),
            (self.batch_size >= 2, f"--batch-size {self.batch_size}: must be at least 2 (batch norm)"),
            (0 < self.lr_g < math.inf, f"--lr-g {self.lr_g}: must be positive and finite"),
            (0 < self.lr_d < math.inf, f"--lr-d {self.lr_d}: must be positive and finite"),
            (0 <= self.beta1 < 1, f"--beta1 {self.beta1}: must be in [0, 1)"),
            (self.latent_dim >= 1, f"--latent-dim {self.latent_dim}: must be at least 1"),
            (self.width >= 2, f"--width {self.width}: must be at least 2"),
            (self.eval_samples >= 10, f"--eval-samples {self.eval_samples}: must be at least 10 (one per digit)"),
            (not self.run_name or "/" not in self.run_name and self.run_name not in (".", ".."),
             f"--run-name {self.run_name!r}: a plain folder name, no '/'"),
            (not (self.resume and self.overwrite),
             "--resume and --overwrite: choose one (continue the run, or start it over)"),
            (self.progress_epochs is None or all(e >= 1 for e in self.progress_epochs),
             f"--progress-epochs {_join(self.progress_epochs)}: epochs count from 1"),
            (all(s >= 0 for s in self.progress_steps),
             f"--progress-steps {_join(self.progress_steps)}: steps count from 0 (0: before training)"),
            (all(0 < lr < math.inf for lr in (*self.lr_d_values, *self.lr_g_values)),
             f"--lr-d-values {_join(self.lr_d_values)} / --lr-g-values {_join(self.lr_g_values)}: "
             "learning rates must be positive and finite"),
            (len(self.lr_d_values) >= 1 and len(self.lr_g_values) >= 1,
             "--lr-d-values / --lr-g-values: give at least one learning rate each"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        return self

    def replace(self, **changes: Any) -> GanConfig:
        return dataclasses.replace(self, **changes)


def _join(values) -> str:
    return ",".join(f"{v:g}" for v in values or ())


def auto_progress_epochs(total: int) -> tuple[int, ...]:
    """1, 2, 5, 10, 20, 50, 100, ... up to `total`, and `total` itself: about seven rows for any length."""
    marks, scale = [], 1
    while scale <= total:
        marks += [m * scale for m in (1, 2, 5) if m * scale <= total]
        scale *= 10
    return tuple(sorted({*marks, total}))
