"""The end-of-run summary printed by assignment_3a.py: per-epoch accuracy, best/final, where things are."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def format_report(history: Sequence[Mapping], *, run_name: str, run_dir: str | Path,
                  checkpoint_dir: str | Path, notes: Sequence[str] = ()) -> str:
    """A short plain-text table of the epochs and the best/final validation accuracy."""
    lines = [f"Run {run_name}"]
    if history:
        lines.append(" epoch    step  train loss  train acc  val loss  val acc   img/s")
        for h in history:
            lines.append(f"{h['epoch']:6d} {h['step']:7d} {h['train_loss']:11.4f} {h['train_accuracy']:10.3f}"
                         f" {h['val_loss']:9.4f} {h['val_accuracy']:8.3f} {h['images_per_second']:7.1f}")
        best = max(history, key=lambda h: h["val_accuracy"])
        final = history[-1]
        lines.append(f"Best validation accuracy {best['val_accuracy']:.3f} at epoch {best['epoch']}; "
                     f"final {final['val_accuracy']:.3f} (epoch {final['epoch']}).")
    else:
        lines.append("No epoch finished.")
    lines.extend(notes)
    lines.append(f"TensorBoard logs: {run_dir}   (view: tensorboard --logdir {Path(run_dir).parent})")
    lines.append(f"Checkpoints:      {checkpoint_dir}   (continue: add --resume --run-name {run_name})")
    return "\n".join(lines)
