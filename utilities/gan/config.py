"""The settings of one GAN run (what `gan.py` parses) and the part of them `--resume` must match."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS = ("dcgan", "cdcgan")
GAN_DATASETS = ("digits", "mnist", "mnist5k")
DEFAULT_EPOCHS = {"mnist": 5, "digits": 100, "mnist5k": 75}
"""Epochs when --epochs is not given: MNIST's 469 steps per epoch make 5 epochs about 2,300 steps
(the order of magnitude of a DCGAN-on-MNIST exercise); the 1,347 bundled training digits give 10 steps per epoch,
the 4,000 real digits of mnist5k 31 (75 epochs: about 2,300 steps)."""

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
    progress: bool = True

    @property
    def conditional(self) -> bool:
        return self.model == "cdcgan"

    @property
    def total_epochs(self) -> int:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.dataset]

    @property
    def name(self) -> str:
        return self.run_name or f"{self.model}_{self.dataset}"

    @property
    def run_dir(self) -> Path:
        return Path(self.results_dir) / self.name

    @property
    def judge_dir(self) -> Path:
        return Path(self.classifier_dir) if self.classifier_dir else Path(self.results_dir) / "classifier"

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
            (self.lr_g > 0, f"--lr-g {self.lr_g}: must be positive"),
            (self.lr_d > 0, f"--lr-d {self.lr_d}: must be positive"),
            (0 <= self.beta1 < 1, f"--beta1 {self.beta1}: must be in [0, 1)"),
            (self.latent_dim >= 1, f"--latent-dim {self.latent_dim}: must be at least 1"),
            (self.width >= 2, f"--width {self.width}: must be at least 2"),
            (self.eval_samples >= 10, f"--eval-samples {self.eval_samples}: must be at least 10 (one per digit)"),
            (not self.run_name or "/" not in self.run_name and self.run_name not in (".", ".."),
             f"--run-name {self.run_name!r}: a plain folder name, no '/'"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        return self

    def replace(self, **changes: Any) -> GanConfig:
        return dataclasses.replace(self, **changes)
