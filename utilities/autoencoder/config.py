"""The settings of one autoencoder run (what `autoencoder.py` parses), checked before any work."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AE_DATASETS = ("fashion_mnist", "digits", "mnist", "mnist5k")
DEFAULT_EPOCHS = {"fashion_mnist": 20, "mnist": 20, "digits": 40, "mnist5k": 30}
"""Epochs when --epochs is not given: 469 steps per epoch on the 60,000 Fashion-MNIST images;
the 1,347 bundled training digits give 11 steps per epoch and the 4,000 of mnist5k 32: they need
more passes."""
IMAGE_SIZE = 28
CODE_ACTIVATIONS = ("linear", "relu")
PCA_FITS = ("train", "test")
"""What PCA is fitted on: the clean training images (default: like the CAE, it never sees the images it
is scored on), or the evaluated test images themselves (the handout's `PCA(2).fit_transform(test points)`)."""
RESUME_KEYS = ("dataset", "denoise", "clip", "batch_size", "lr", "latent_dim", "code_activation", "seed")
"""The settings a resumed run must share with the run it continues (--epochs may grow; the evaluation
flags --samples / --pca-fit and the places may change)."""


class UsageError(ValueError):
    """A flag or input the run cannot use; the message names it and says what to do (exit code 2)."""


def parse_filters(text: str) -> tuple[int, ...]:
    """'32,64,128' -> (32, 64, 128); UsageError for anything else."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--filters {text!r}: give comma-separated positive integers, e.g. 32,64,128") from None
    if not all(w >= 1 for w in widths):
        raise UsageError(f"--filters {text!r}: every width must be at least 1, e.g. 32,64,128")
    return widths


@dataclass(frozen=True)
class AutoencoderConfig:
    """One run. Defaults are the handout's: Adam(1e-3), binary cross-entropy, widths 32/64/128, a 2-D code."""

    dataset: str = "fashion_mnist"
    data_dir: Path | None = None
    denoise: float | None = None
    clip: bool = False
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    filters: str = "32,64,128"
    pools: int | None = None
    latent_dim: int = 2
    code_activation: str = "linear"
    samples: int = 1000
    seed: int = 0
    pca_fit: str = "train"
    run_name: str | None = None
    results_dir: Path = Path("results/autoencoder")
    logdir: Path = Path("logs/autoencoder")
    progress: bool = True
    resume: bool = False
    overwrite: bool = False

    @property
    def widths(self) -> tuple[int, ...]:
        return parse_filters(self.filters)

    @property
    def total_epochs(self) -> int:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.dataset]

    @property
    def noise_std(self) -> float:
        return self.denoise or 0.0

    @property
    def name(self) -> str:
        """Default run name: cae_<dataset> or dcae_<dataset>, with _z<latent> when the code is not 2-D."""
        if self.run_name:
            return self.run_name
        return f"{'dcae' if self.denoise else 'cae'}_{self.dataset}" + (
            f"_z{self.latent_dim}" if self.latent_dim != 2 else "")

    @property
    def run_dir(self) -> Path:
        return Path(self.results_dir) / self.name

    @property
    def run_logdir(self) -> Path:
        return Path(self.logdir) / self.name

    def resume_settings(self, train_images: int) -> dict[str, Any]:
        """What `run.json` records and `--resume` compares (RunCheckpoint names any that changed)."""
        from models.autoencoder import default_pools
        widths = self.widths
        return {k: getattr(self, k) for k in RESUME_KEYS} | {
            "widths": list(widths), "pools": default_pools(widths) if self.pools is None else self.pools,
            "train_images": train_images}

    def validate(self) -> AutoencoderConfig:
        """Raise UsageError naming the first unusable flag."""
        from models.autoencoder import ArchitectureError, check_architecture
        from utilities.digits.loader import DATA_DIR_DATASETS
        checks = [
            (self.dataset in AE_DATASETS, f"--dataset {self.dataset!r}: choose one of {', '.join(AE_DATASETS)}"),
            (self.data_dir is None or self.dataset in DATA_DIR_DATASETS,
             f"--data-dir is read for --dataset {' or '.join(DATA_DIR_DATASETS)} only, not {self.dataset}"),
            (self.denoise is None or self.denoise > 0, f"--denoise {self.denoise}: the noise std must be positive"),
            (self.epochs is None or self.epochs >= 1, f"--epochs {self.epochs}: must be at least 1"),
            (self.batch_size >= 1, f"--batch-size {self.batch_size}: must be at least 1"),
            (self.lr > 0, f"--lr {self.lr}: must be positive"),
            (self.latent_dim >= 1, f"--latent-dim {self.latent_dim}: the code needs at least one unit"),
            (self.code_activation in CODE_ACTIVATIONS,
             f"--code-activation {self.code_activation!r}: choose one of {', '.join(CODE_ACTIVATIONS)}"),
            (self.pca_fit in PCA_FITS, f"--pca-fit {self.pca_fit!r}: choose one of {', '.join(PCA_FITS)}"),
            (not (self.resume and self.overwrite),
             "--resume and --overwrite: choose one (continue the run, or start it over)"),
            (self.samples >= 20, f"--samples {self.samples}: at least 20 test images for the maps and scores"),
            (not self.run_name or "/" not in self.run_name and self.run_name not in (".", ".."),
             f"--run-name {self.run_name!r}: a plain folder name, no '/'"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        try:
            check_architecture(IMAGE_SIZE, self.widths, self.pools, self.latent_dim)
        except ArchitectureError as exc:
            raise UsageError(f"--filters {self.filters} --pools {self.pools if self.pools is not None else 'default'}"
                             f": {exc}") from None
        return self

    def replace(self, **changes: Any) -> AutoencoderConfig:
        return dataclasses.replace(self, **changes)
