"""Per-epoch checkpoints of a training run, and finding the run that `--resume` continues.

A checkpoint holds what training changes: the trained layers, the optimizer, the global step,
the number of finished epochs and the dropout seed states, so a resumed run continues with
the same TensorBoard steps and the same random streams. The frozen layers are not saved
again every epoch (most of the network: 44 of AlexNet's 61 M parameters with remove-fc 1);
a resumed run rebuilds them from the same `--weights`, and `frozen_fingerprint`, recorded in
`run.json`, makes sure they are the same. TensorFlow writes the data files first and then replaces the small
`checkpoint` index file atomically, so a kill during a save leaves the previous checkpoint
in charge: at most the current epoch is lost. `run.json` beside the checkpoints remembers
where the run logs to and the per-epoch history for the end-of-run report.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from utilities.common.atomic import write_text_atomic
from utilities.common.run_checkpoint import remove_partial_checkpoint

RUN_INFO = "run.json"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be found or does not fit the model (message says what to do)."""


class TrainingCheckpoint:
    """Model + optimizer + counters, saved every epoch through tf.train.CheckpointManager.

    `step` and `epoch` are int64 tf.Variables the training loop reads and updates.
    Non-chief workers of a multi-worker run must still take part in saving; they write to a
    throw-away directory of their own (`chief=False`, `worker` names it).
    """

    def __init__(self, directory: str | Path, *, trained: Mapping[str, Any], optimizer, seed_states: Sequence = (),
                 max_to_keep: int = 2, chief: bool = True, worker: str = "worker"):
        self.directory = Path(directory)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        extra = {f"seed_state_{i}": state for i, state in enumerate(seed_states)}
        self.checkpoint = tf.train.Checkpoint(trained_layers=dict(trained), optimizer=optimizer,
                                              step=self.step, epoch=self.epoch, **extra)
        self.chief = chief
        write_dir = self.directory if chief else self.directory.parent / f".{self.directory.name}.{worker}"
        self._write_dir = write_dir
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(write_dir), max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        return tf.train.latest_checkpoint(str(self.directory))

    def restore_latest(self) -> str:
        """Load the newest checkpoint; CheckpointError when there is none or it does not fit."""
        path = self.latest
        if path is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; start without --resume")
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            reason = str(exc).strip().splitlines()[0][:300]
            raise CheckpointError(
                f"checkpoint {path} does not fit this model ({reason}); resume with the same "
                "--model, --remove-fc and --train-layers as the original run (checkpoints of "
                "versions that saved the whole model cannot be resumed: start a new run)") from None
        return path

    def save(self) -> str:
        """Write the checkpoint of the finished epoch; CheckpointError (temporary files removed,
        the previous checkpoint still in charge) when the disk is full or unwritable. Interrupted
        (KeyboardInterrupt), the temporary files are removed too."""
        number = int(self.epoch.numpy())
        try:
            path = self.manager.save(checkpoint_number=number)
        except (OSError, tf.errors.OpError) as exc:
            remove_partial_checkpoint(self._write_dir, number)
            free = shutil.disk_usage(self._write_dir).free if self._write_dir.exists() else 0
            previous = self.latest
            reason = (getattr(exc, "strerror", None) or getattr(exc, "message", None) or str(exc)).splitlines()[0]
            raise CheckpointError(
                f"cannot write the checkpoint of epoch {number} to {self._write_dir} ({reason[:200]}): it needs "
                f"about {self.size_bytes() / 1e6:.0f} MB, {free / 1e6:.0f} MB are free; free some space and "
                + (f"continue with --resume from {Path(previous).name}, still in charge" if previous
                   else "start again")) from None
        except BaseException:    # Ctrl-C while TensorFlow writes: nothing half-written stays behind
            remove_partial_checkpoint(self._write_dir, number)
            raise
        if not self.chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        return path

    def size_bytes(self) -> int:
        """About what one checkpoint holds: the trained layers' bytes."""
        return sum(np.asarray(w.numpy()).nbytes for layer in self.checkpoint.trained_layers.values()
                   for w in layer.weights)


def frozen_fingerprint(model, trained: Sequence[str]) -> str:
    """sha256 of every weight outside the trained layers (names and values, in model order).

    Identifies the base a run fine-tunes, whatever file it came from, so `--resume` can refuse
    a different one instead of silently training on other frozen layers.
    """
    digest = hashlib.sha256()
    for layer in model.layers:
        if layer.name in trained:
            continue
        for variable in layer.weights:
            digest.update(variable.path.encode())
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def read_run_info(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / RUN_INFO
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError:
        raise CheckpointError(f"{path} is damaged; delete it or start a new run") from None


def write_run_info(directory: str | Path, info: dict[str, Any]) -> None:
    """run.json, strict JSON: a non-finite number is written as null (JSON has no NaN)."""
    text = json.dumps(_finite(info), indent=2, sort_keys=True, allow_nan=False)
    write_text_atomic(Path(directory) / RUN_INFO, text + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def find_latest_run(checkpoint_root: str | Path, prefix: str) -> Path | None:
    """The run directory under `checkpoint_root` named `prefix*` whose checkpoint is newest."""
    root = Path(checkpoint_root)
    if not root.is_dir():
        return None
    candidates = [d for d in root.iterdir()
                  if d.is_dir() and d.name.startswith(prefix) and (d / "checkpoint").is_file()
                  and tf.train.latest_checkpoint(str(d))]
    if not candidates:
        return None
    return max(candidates, key=lambda d: (d / "checkpoint").stat().st_mtime)
