"""Per-epoch checkpoints and `--resume` for the sibling programs' training loops.

Assignment 3a has its own checkpointing (it saves only the trained layers of a large frozen
network); the small networks of the siblings save everything they train. `RunCheckpoint`
keeps the models, optimizers and any tf.Variables (seed states, schedules) passed to it,
plus the number of finished epochs, through tf.train.CheckpointManager: TensorFlow writes
the data files first and replaces the `checkpoint` index atomically, so a kill during a save
leaves the previous epoch in charge. `run.json` records the settings the run was started
with; `--resume` refuses to continue a run whose settings differ (naming them).
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tensorflow as tf

from utilities.common.atomic import write_text_atomic

RUN_FILE = "run.json"


class ResumeError(RuntimeError):
    """`--resume` cannot continue this run; the message says why and what to do."""


class RunCheckpoint:
    """Save `objects` (models, optimizers, variables) every epoch; resume from the newest save."""

    def __init__(self, directory: str | Path, settings: Mapping[str, Any], *, max_to_keep: int = 2,
                 restart_hint: str = "start a new run without --resume", **objects: Any):
        self.directory = Path(directory)
        self.restart_hint = restart_hint  # the way to a fresh run, for the changed-settings message
        self.settings = json.loads(json.dumps(dict(settings)))  # what run.json will hold, normalised
        self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        self.checkpoint = tf.train.Checkpoint(epochs_done=self.epochs_done, **objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=max_to_keep)

    def start(self, resume: bool) -> int:
        """Epochs already done: 0 for a new run, else restore the newest checkpoint (ResumeError if none)."""
        if not resume:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.directory / RUN_FILE, json.dumps(self.settings, indent=2, sort_keys=True))
            return 0
        run_file = self.directory / RUN_FILE
        latest = self.manager.latest_checkpoint
        if latest is None or not run_file.exists():
            raise ResumeError(f"--resume: no checkpoint in {self.directory}; run without --resume to start one")
        saved = json.loads(run_file.read_text())
        changed = sorted(k for k in set(saved) | set(self.settings) if saved.get(k) != self.settings.get(k))
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {self.settings.get(k)!r}" for k in changed)
            raise ResumeError(f"--resume: the run in {self.directory} was started with other settings ({details}); "
                              f"use the same flags, or {self.restart_hint}")
        try:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            raise ResumeError(f"--resume: {latest} does not fit this model ({str(exc).splitlines()[0]})") from None
        return int(self.epochs_done.numpy())

    def save(self, epochs_done: int) -> str:
        """Record that `epochs_done` epochs are finished and write a checkpoint; returns its path.

        If the write fails (a full disk: OSError or TensorFlow's ResourceExhaustedError) or is
        interrupted (Ctrl-C lands between TensorFlow's steps) the half-written `ckpt-N_temp*` is
        removed before the exception propagates: the previous checkpoint stays in charge and
        nothing partial is left behind.
        """
        self.epochs_done.assign(epochs_done)
        try:
            return self.manager.save(checkpoint_number=epochs_done)
        except BaseException:   # a full disk, or Ctrl-C while TensorFlow writes
            remove_partial_checkpoint(self.directory, epochs_done)
            raise


def remove_partial_checkpoint(directory: str | Path, number: int) -> None:
    """Remove what a failed or interrupted save of checkpoint `number` left in `directory`:
    TensorFlow writes `ckpt-N_temp/` (or `ckpt-N_temp*` files) and renames them when complete."""
    for partial in Path(directory).glob(f"ckpt-{number}_temp*"):
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
