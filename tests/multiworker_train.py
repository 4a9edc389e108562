"""One worker of the two-process test (tests/test_multiworker.py), or the single-process reference.

    python tests/multiworker_train.py {multiworker|none} OUT.npz [--die-after-step N]

Trains the tiny AlexNet-shaped model with the project's loop (global batch 4, 2 epochs),
then writes its weights and whether it is the chief to OUT.npz. TF_CONFIG (set by the test)
says which worker this is. `--die-after-step N` makes this process vanish after step N, as a
crashed machine would.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from tests.fixtures_training import NUM_CLASSES, build_tiny_model  # noqa: E402
from tests.test_training import ArrayData, separable_arrays  # noqa: E402
from utilities.finetune.distribute import is_chief, select_strategy  # noqa: E402
from utilities.finetune.training import StepRunner, fit  # noqa: E402


def main() -> None:
    kind, out = sys.argv[1], Path(sys.argv[2])
    die_after = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--die-after-step" else None
    strategy = select_strategy(kind)
    with strategy.scope():
        model = build_tiny_model(dropout=0.0, seed=0)
        models.set_trainable(model, ["classifier", "fc7", "fc6"])
        optimizer = keras.optimizers.SGD(0.05)
    runner = StepRunner(model, model.trainable_variables, optimizer, num_classes=NUM_CLASSES, strategy=strategy)
    if die_after is not None:
        original = runner.train_step

        def train_step(batch, spec, *, display=False):
            if int(optimizer.iterations.numpy()) >= die_after:
                os._exit(17)
            return original(batch, spec, display=display)
        runner.train_step = train_step
    images, labels = separable_arrays(12)
    step, epoch = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    records = fit(runner, ArrayData(images, labels, 4, separable_arrays(6, seed=1)), epochs=2, display_step=2,
                  step=step, epoch=epoch)
    weights = {f"weight_{i}": w.numpy() for i, w in enumerate(model.weights)}
    np.savez(out, chief=is_chief(strategy), replicas=strategy.num_replicas_in_sync,
             losses=[r.train_loss for r in records], **weights)


if __name__ == "__main__":
    main()
