"""tf.distribute: the same loop on 2 logical CPU devices gives the single-device updates.

Logical devices must be configured before TensorFlow initialises, so the two-replica run
happens in a fresh Python process (the script below) that prints its measurements as JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from utilities.finetune.distribute import DistributeError, describe, is_chief, select_strategy

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]  # two logical CPUs, before TF starts
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from utilities.finetune.distribute import select_strategy
    import keras, numpy as np, tensorflow as tf
    import models
    from tests.fixtures_training import NUM_CLASSES, build_tiny_model
    from tests.test_training import ArrayData, separable_arrays
    from utilities.finetune.feature_cache import compute_features, split_for_cache
    from utilities.finetune.training import StepRunner, fit

    def train(strategy, dropout):
        with strategy.scope():
            model = build_tiny_model(dropout=dropout, seed=0)
            models.set_trainable(model, ["classifier", "fc7", "fc6"])
            optimizer = keras.optimizers.SGD(0.05)
        runner = StepRunner(model, model.trainable_variables, optimizer, num_classes=NUM_CLASSES,
                            strategy=strategy)
        images, labels = separable_arrays(10)          # batches 4, 4, 2: a short last batch
        step, epoch = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
        seen = []
        class Observer:
            def speed(self, *a): pass
            def train_step(self, step, *, loss, accuracy, learning_rate, display):
                seen.append((step, [float(np.abs(g).sum()) for tag, g in sorted(display.items())
                                    if tag.endswith("/gradient")]))
            def validation_epoch(self, step, *, loss, accuracy, confusion, epoch):
                seen.append((step, int(confusion.sum())))
        records = fit(runner, ArrayData(images, labels, 4, separable_arrays(7, seed=1)), epochs=2,
                      display_step=2, step=step, epoch=epoch, observer=Observer())
        return model, records, seen

    one = select_strategy("none")
    two = select_strategy("mirrored")
    single, single_records, single_seen = train(one, 0.0)
    mirrored, mirrored_records, mirrored_seen = train(two, 0.0)
    _, dropout_records, _ = train(two, 0.5)

    split = split_for_cache(mirrored)
    batches = tf.data.Dataset.from_tensor_slices(
        (separable_arrays(10)[0], np.arange(10, dtype=np.int64))).batch(4)
    plain_features, _ = compute_features(split.trunk, batches, 10)
    mirrored_features, valid = compute_features(split.trunk, batches, 10, strategy=two)
    print(json.dumps({
        "replicas": two.num_replicas_in_sync,
        "weight_diff": max(float(np.abs(a.numpy() - b.numpy()).max())
                           for a, b in zip(single.weights, mirrored.weights)),
        "loss_diff": max(abs(a.train_loss - b.train_loss) for a, b in zip(single_records, mirrored_records)),
        "val_accuracy": [[r.val_accuracy for r in single_records], [r.val_accuracy for r in mirrored_records]],
        "seen_steps": [[s[0] for s in single_seen], [s[0] for s in mirrored_seen]],
        "gradient_sums": [single_seen[0][1], mirrored_seen[0][1]],
        "validated": [s[1] for s in mirrored_seen if isinstance(s[1], int)],
        "dropout_loss_finite": all(np.isfinite(r.train_loss) for r in dropout_records),
        "feature_diff": float(np.abs(plain_features - mirrored_features).max()),
        "features_valid": int(valid.sum()),
    }))
""")


@pytest.mark.slow
def test_two_logical_cpus_match_one_device(tmp_path):
    script = tmp_path / "two_replicas.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    done = subprocess.run([sys.executable, str(script), str(ROOT)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["weight_diff"] < 1e-5 and result["loss_diff"] < 1e-5
    assert result["val_accuracy"][0] == pytest.approx(result["val_accuracy"][1])
    assert result["seen_steps"][0] == result["seen_steps"][1] == [0, 2, 3, 4, 6]  # display 0,2,4; val 3,6
    single_sums, mirrored_sums = result["gradient_sums"]
    assert mirrored_sums == pytest.approx(single_sums, rel=1e-4)  # logged gradients are the global ones
    assert result["validated"] == [7, 7]
    assert result["dropout_loss_finite"]
    assert result["feature_diff"] < 1e-5 and result["features_valid"] == 10


EMPTY_REPLICA_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    import models
    from utilities.finetune.distribute import select_strategy
    from utilities.finetune.feature_cache import compute_features, split_for_cache
    from utilities.finetune.training import StepRunner

    images = np.random.default_rng(0).normal(0, 10, size=(5, 227, 227, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1])
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)   # 4, then 1 = 1 + an empty replica

    def run(kind):
        strategy = select_strategy(kind)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = models.build_model("alexnet", "random", remove_fc=1, num_classes=3, dropout=0.0)
            models.set_trainable(model, ["classifier", "fc7"])
            optimizer = keras.optimizers.SGD(0.01)
        runner = StepRunner(model, model.trainable_variables, optimizer, num_classes=3, strategy=strategy)
        before = runner.evaluate(batches)
        split = split_for_cache(model)
        indexed = tf.data.Dataset.from_tensor_slices((images, np.arange(5))).batch(4)
        features, valid = compute_features(split.trunk, indexed, 5, strategy=strategy)
        distributed = strategy.experimental_distribute_dataset(batches)
        losses = [float(runner.train_step(b, distributed.element_spec).loss) for b in distributed]
        return {"loss": before.loss, "confusion": before.confusion.tolist(), "examples": before.examples,
                "features": features, "valid": int(valid.sum()), "train_losses": losses,
                "weights": [v.numpy() for v in model.trainable_variables]}

    one, two = run("none"), run("mirrored")
    print(json.dumps({
        "examples": [one["examples"], two["examples"]], "confusion": [one["confusion"], two["confusion"]],
        "loss_diff": abs(one["loss"] - two["loss"]), "valid": [one["valid"], two["valid"]],
        "feature_diff": float(np.abs(one["features"] - two["features"]).max()),
        "train_losses": [one["train_losses"], two["train_losses"]],
        "weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(one["weights"], two["weights"])),
    }))
""")


def test_a_replica_with_an_empty_batch_skips_the_network():
    # Issue 29: a batch of 1 over 2 replicas leaves one empty; TF's oneDNN convolution returned a
    # wrongly shaped tensor for it and AlexNet's grouped conv2 failed, in evaluation, training
    # and the feature cache. The real AlexNet (random weights) on two logical CPUs must give the
    # single-device numbers for all three.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", EMPTY_REPLICA_SCRIPT, str(ROOT)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["examples"] == [5, 5] and result["valid"] == [5, 5]
    assert result["confusion"][0] == result["confusion"][1]
    assert result["loss_diff"] < 1e-4 and result["feature_diff"] < 1e-3
    single, mirrored = result["train_losses"]
    assert len(single) == len(mirrored) == 2 and mirrored == pytest.approx(single, rel=1e-4)
    assert result["weight_diff"] < 1e-5


def test_default_strategy_and_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = select_strategy("none")
    assert strategy.num_replicas_in_sync == 1 and is_chief(strategy)
    assert "1 replica" in describe(strategy)
    assert select_strategy("auto").num_replicas_in_sync >= 1
    with pytest.raises(DistributeError, match="TF_CONFIG"):
        select_strategy("multiworker")
    with pytest.raises(DistributeError, match="--distribute"):
        select_strategy("horovod")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(DistributeError, match="TF_CONFIG is not valid JSON"):
        select_strategy("auto")
