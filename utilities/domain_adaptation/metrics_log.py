"""Per-epoch numbers of a run: one CSV (rewritten atomically each epoch) and TensorBoard scalars.

CSV columns = `COLUMNS`; TensorBoard tags group them: `accuracy/source`, `accuracy/target`,
`accuracy/domain`, `loss/label`, `loss/domain`, `schedule/lambda`, `schedule/learning_rate`,
`pseudo_labels/fraction`, `pseudo_labels/accuracy`, the per-domain report under `test/*` and
`train/*`, step = epoch. A resumed run keeps the rows
of the epochs its checkpoint holds and appends after them.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import tensorflow as tf

from utilities.common.atomic import write_text_atomic
from utilities.common.summary_state import summary_state_restored

TEST_REPORT = ("source_class_loss", "source_domain_loss", "source_domain_accuracy",  # the handout's report on
               "target_class_loss", "target_domain_loss", "target_domain_accuracy")  # the test sets, per domain
TRAIN_REPORT = ("train_source_class_loss", "train_source_domain_loss", "train_source_domain_accuracy",  # and on
                "train_target_class_loss", "train_target_accuracy", "train_target_domain_loss",  # the epoch's
                "train_target_domain_accuracy")  # training batches (target labels used for the report only)
COLUMNS = ("epoch", "source_accuracy", "target_accuracy", "domain_accuracy", "label_loss", "domain_loss",
           "lambda", "learning_rate", "pseudo_fraction", "pseudo_accuracy", "train_source_accuracy",
           "train_domain_accuracy", "seconds", *TEST_REPORT, *TRAIN_REPORT)
TAGS = {"source_accuracy": "accuracy/source", "target_accuracy": "accuracy/target",
        "domain_accuracy": "accuracy/domain", "label_loss": "loss/label", "domain_loss": "loss/domain",
        "lambda": "schedule/lambda", "learning_rate": "schedule/learning_rate",
        "pseudo_fraction": "pseudo_labels/fraction", "pseudo_accuracy": "pseudo_labels/accuracy",
        "train_source_accuracy": "train/source_accuracy", "train_domain_accuracy": "train/domain_accuracy",
        **{key: f"test/{key}" for key in TEST_REPORT},
        **{key: f"train/{key[len('train_'):]}" for key in TRAIN_REPORT}}


def read_rows(path: Path, up_to_epoch: int) -> list[dict[str, float]]:
    """Rows of an existing CSV with epoch <= up_to_epoch (a resumed run drops epochs it did not checkpoint)."""
    if not path.exists():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            values = {k: _number(v) for k, v in row.items() if k in COLUMNS}
            if values.get("epoch", math.inf) <= up_to_epoch:
                rows.append(values)
    return rows


class MetricsLog:
    """Collects epoch rows; `add` rewrites `csv_path` and writes the scalars to `tb_dir`."""

    def __init__(self, csv_path: Path, tb_dir: Path, rows: list[dict[str, float]] | None = None):
        self.csv_path = Path(csv_path)
        self.rows = list(rows or [])
        self.writer = tf.summary.create_file_writer(str(tb_dir))

    def add(self, row: dict[str, float]) -> None:
        self.rows.append(dict(row))
        self._write_csv()
        with summary_state_restored(), self.writer.as_default():   # a failed flush must not stay the default
            for key, tag in TAGS.items():
                value = row.get(key)
                if value is not None and not math.isnan(value):
                    tf.summary.scalar(tag, value, step=int(row["epoch"]))
        self.writer.flush()

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _format(k, row.get(k)) for k in COLUMNS})
        write_text_atomic(self.csv_path, buffer.getvalue())

    def close(self) -> None:
        self.writer.close()


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan  # empty (no pseudo-labels), or a cell edited by hand


def _format(key: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key == "epoch":
        return str(int(value))
    return f"{value:.6g}"
