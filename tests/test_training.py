"""The custom training loop on a tiny model: SGD maths, frozen layers, display steps, NaN stop,
checkpoints, TensorBoard writer, report."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from tests.fixtures_training import NUM_CLASSES, TINY_SIZE, build_tiny_model, read_events
from utilities.finetune.checkpointing import CheckpointError, TrainingCheckpoint, find_latest_run, frozen_fingerprint
from utilities.finetune.confusion_image import confusion_matrix_png
from utilities.finetune.report import format_report
from utilities.finetune.tb_logging import RunLogger, histogram_buckets, histogram_tables
from utilities.finetune.training import NonFiniteLossError, StepRunner, fit


def separable_arrays(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose mean colour channel is the class: an easy task."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % NUM_CLASSES).astype(np.int32)
    images = rng.normal(0.0, 0.3, size=(count, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)
    images[np.arange(count), :, :, labels] += 1.0
    return images, labels


class ArrayData:
    """EpochData over in-memory arrays, reshuffled per epoch with a seed."""

    def __init__(self, images, labels, batch_size, val=None):
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.val = val or (images, labels)

    def train_batches(self, epoch):
        order = np.random.default_rng([7, epoch]).permutation(len(self.labels))
        return tf.data.Dataset.from_tensor_slices((self.images[order], self.labels[order])).batch(self.batch_size)

    def validation_batches(self):
        return tf.data.Dataset.from_tensor_slices(self.val).batch(self.batch_size)


class RecordingObserver:
    def __init__(self):
        self.variable_steps, self.train_steps, self.gradient_steps, self.validation = [], [], [], []

    def train_step(self, step, *, loss, accuracy, learning_rate, display):
        self.train_steps.append(step)
        if any(tag.endswith("/gradient") for tag in display):
            self.gradient_steps.append(step)
        if any(not tag.endswith("/gradient") for tag in display):
            self.variable_steps.append(step)

    def speed(self, step, images_per_second):
        pass

    def validation_epoch(self, step, *, loss, accuracy, confusion, epoch):
        self.validation.append((step, epoch, int(confusion.sum())))


def counters():
    return tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)


def test_step_is_plain_sgd_on_trainable_variables_only():
    model = build_tiny_model(dropout=0.0)
    models.set_trainable(model, ["classifier", "fc7"])
    frozen = {v.path: v.numpy().copy() for v in model.non_trainable_variables}
    before = [v.numpy().copy() for v in model.trainable_variables]
    images, labels = separable_arrays(6)
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    expected_gradients = tape.gradient(loss, model.trainable_variables)

    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.1), num_classes=NUM_CLASSES)
    data = tf.data.Dataset.from_tensors((images, labels))
    result = runner.train_step(next(iter(data)), data.element_spec, display=True)

    assert float(result.loss) == pytest.approx(float(loss), rel=1e-5)
    assert sorted(v.path for v in runner.variables) == ["classifier/bias", "classifier/kernel",
                                                          "fc7/bias", "fc7/kernel"]
    for variable, old, gradient in zip(model.trainable_variables, before, expected_gradients, strict=True):
        np.testing.assert_allclose(result.display[variable.path + "/gradient"], gradient, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(result.display[variable.path], old)   # the value before the update
        np.testing.assert_allclose(variable.numpy(), old - 0.1 * gradient.numpy(), rtol=1e-5, atol=1e-7)
    for variable in model.non_trainable_variables:
        np.testing.assert_array_equal(variable.numpy(), frozen[variable.path])


def test_fit_logs_exactly_every_display_step_and_validates_every_example():
    images, labels = separable_arrays(10)            # batches of 4: 4, 4, 2 -> 3 steps per epoch
    val = separable_arrays(7, seed=1)
    model = build_tiny_model()
    models.set_trainable(model, ["classifier", "fc7"])
    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.01), num_classes=NUM_CLASSES)
    observer = RecordingObserver()
    step, epoch = counters()
    records = fit(runner, ArrayData(images, labels, 4, val), epochs=3, display_step=3, step=step,
                  epoch=epoch, observer=observer)

    assert observer.train_steps == observer.gradient_steps == observer.variable_steps == [0, 3, 6]
    assert observer.validation == [(3, 1, 7), (6, 2, 7), (9, 3, 7)]
    assert [r.step for r in records] == [3, 6, 9] and int(step.numpy()) == 9 and int(epoch.numpy()) == 3
    # one trace per compiled step, although the last batch of each epoch is short
    assert runner.tracing_counts() == {"display": 1, "train": 1, "evaluate": 1}


def test_fit_continues_from_counters_and_display_step_one():
    images, labels = separable_arrays(8)
    model = build_tiny_model()
    models.set_trainable(model, ["classifier"])
    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.01), num_classes=NUM_CLASSES)
    observer = RecordingObserver()
    step, epoch = counters()
    step.assign(4)
    epoch.assign(1)
    fit(runner, ArrayData(images, labels, 4), epochs=2, display_step=1, step=step, epoch=epoch,
        observer=observer)
    assert observer.train_steps == [4, 5] and observer.validation[0][:2] == (6, 2)


def test_loss_falls_on_an_easy_task():
    images, labels = separable_arrays(48)
    model = build_tiny_model(dropout=0.2)
    models.set_trainable(model, ["classifier", "fc7", "fc6", "conv1"])
    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.05), num_classes=NUM_CLASSES)
    step, epoch = counters()
    records = fit(runner, ArrayData(images, labels, 8), epochs=8, display_step=3, step=step, epoch=epoch)
    assert records[-1].train_loss < 0.5 * records[0].train_loss
    assert records[-1].val_accuracy > 0.9


def test_non_finite_loss_stops_with_advice():
    images, labels = separable_arrays(8)
    model = build_tiny_model()
    models.set_trainable(model, ["classifier"])
    model.get_layer("classifier").bias.assign([np.inf, 0.0, 0.0])  # what a diverged update leaves
    runner = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.01), num_classes=NUM_CLASSES)
    step, epoch = counters()
    with pytest.raises(NonFiniteLossError, match="--learning-rate") as caught:
        fit(runner, ArrayData(images, labels, 8), epochs=2, display_step=3, step=step, epoch=epoch)
    assert caught.value.step == 0 and int(epoch.numpy()) == 0


def test_nothing_to_train_is_an_error():
    model = build_tiny_model()
    model.trainable = False
    with pytest.raises(ValueError, match="train-layers"):
        StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.01), num_classes=NUM_CLASSES)


def trained_of(model, names=("fc7", "classifier")):
    return {name: model.get_layer(name) for name in names}


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    model = build_tiny_model()
    models.set_trainable(model, ["fc7", "classifier"])
    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    seeds = [layer.seed_generator.state.value for layer in model.layers if hasattr(layer, "seed_generator")]
    checkpoint = TrainingCheckpoint(tmp_path / "run_a", trained=trained_of(model), optimizer=optimizer,
                                    seed_states=seeds)
    checkpoint.step.assign(12)
    checkpoint.epoch.assign(4)
    kernel = model.get_layer("fc7").kernel
    saved_kernel = kernel.numpy().copy()
    saved_seed = seeds[0].numpy().copy()
    checkpoint.save()
    kernel.assign(np.zeros_like(saved_kernel))
    seeds[0].assign(saved_seed + 5)
    checkpoint.step.assign(0)

    restored = TrainingCheckpoint(tmp_path / "run_a", trained=trained_of(model), optimizer=optimizer,
                                  seed_states=seeds)
    assert restored.restore_latest().endswith("ckpt-4")
    assert int(restored.step.numpy()) == 12 and int(restored.epoch.numpy()) == 4
    np.testing.assert_array_equal(kernel.numpy(), saved_kernel)
    np.testing.assert_array_equal(seeds[0].numpy(), saved_seed)
    assert find_latest_run(tmp_path, "run_") == tmp_path / "run_a"
    assert find_latest_run(tmp_path, "other_") is None
    # the frozen layers are not in the checkpoint
    shapes = tf.train.load_checkpoint(str(tmp_path / "run_a")).get_variable_to_shape_map().values()
    assert list(model.get_layer("fc7").kernel.shape) in shapes
    assert list(model.get_layer("fc6").kernel.shape) not in shapes

    other = build_tiny_model(num_classes=5)
    mismatch = TrainingCheckpoint(tmp_path / "run_a", trained=trained_of(other), optimizer=keras.optimizers.SGD(0.01))
    with pytest.raises(CheckpointError, match="--remove-fc"):
        mismatch.restore_latest()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        TrainingCheckpoint(tmp_path / "empty", trained=trained_of(model), optimizer=optimizer).restore_latest()


def test_frozen_fingerprint_sees_frozen_weights_only():
    model = build_tiny_model(seed=0)
    fingerprint = frozen_fingerprint(model, ["fc7", "classifier"])
    assert fingerprint == frozen_fingerprint(build_tiny_model(seed=0), ["fc7", "classifier"])
    model.get_layer("classifier").kernel.assign(model.get_layer("classifier").kernel + 1.0)   # trained: ignored
    assert frozen_fingerprint(model, ["fc7", "classifier"]) == fingerprint
    model.get_layer("fc6").bias.assign(model.get_layer("fc6").bias + 1e-6)                   # frozen: seen
    assert frozen_fingerprint(model, ["fc7", "classifier"]) != fingerprint


def test_run_logger_layout(tmp_path):
    logger = RunLogger(tmp_path / "run", ["a", "b"])
    variable = tf.Variable(np.ones((2, 2), np.float32), name="w")
    logger.hparams({"remove_fc": 2, "learning_rate": 0.01}, trial_id="run")
    logger.train_step(0, loss=1.0, accuracy=0.5, learning_rate=0.01,
                      display=histogram_tables([variable], [variable.read_value()], [tf.ones((2, 2))]))
    logger.validation_epoch(1, loss=0.5, accuracy=0.75, confusion=np.array([[3, 1], [0, 4]]), epoch=1)
    logger.close()
    events = read_events(tmp_path / "run")
    assert set(events["train"]) == {"w", "w/gradient", "cross_entropy", "accuracy", "learning_rate"}
    assert events["validation"] == {"cross_entropy": [1], "accuracy": [1], "confusion_matrix": [1]}
    assert "_hparams_/session_start_info" in events[""]


def test_confusion_image_and_report():
    png = confusion_matrix_png(np.array([[5, 0], [2, 3]]), ["Baroque", "Realism"])
    assert tf.image.decode_png(png).shape[-1] in (3, 4)
    with pytest.raises(ValueError, match="class names"):
        confusion_matrix_png(np.zeros((3, 3)), ["a", "b"])
    history = [dict(epoch=1, step=3, train_loss=2.0, train_accuracy=0.3, val_loss=1.5, val_accuracy=0.4,
                    images_per_second=10.0),
               dict(epoch=2, step=6, train_loss=1.0, train_accuracy=0.6, val_loss=1.4, val_accuracy=0.5,
                    images_per_second=11.0),
               dict(epoch=3, step=9, train_loss=0.5, train_accuracy=0.9, val_loss=1.6, val_accuracy=0.45,
                    images_per_second=11.0)]
    text = format_report(history, run_name="alexnet_fc1_x", run_dir="logs/alexnet_fc1_x",
                         checkpoint_dir="checkpoints/alexnet_fc1_x")
    assert "Best validation accuracy 0.500 at epoch 2; final 0.450 (epoch 3)" in text
    assert "logs/alexnet_fc1_x" in text and "--resume --run-name alexnet_fc1_x" in text


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(size=10_000).astype(np.float32),
    np.full(7, 2.5, np.float32),
    np.zeros(0, np.float32),
])
def test_histogram_buckets_match_tensorboard(values):
    from tensorboard.plugins.histogram.summary_v2 import _buckets
    ours = histogram_buckets(values).numpy()
    reference = _buckets(tf.constant(values), tf.constant(30)).numpy()
    assert ours.shape == reference.shape == (30, 3)
    np.testing.assert_allclose(ours[:, :2], reference[:, :2], rtol=1e-6)
    assert ours[:, 2].sum() == reference[:, 2].sum() == values.size
    assert np.abs(ours[:, 2] - reference[:, 2]).sum() <= 2  # float32 vs float64 bin edges


@pytest.mark.parametrize("size", [5, 64, 65, 200])
def test_histogram_counts_in_chunks_equal_one_call(monkeypatch, size):
    from utilities.finetune import tb_logging
    monkeypatch.setattr(tb_logging, "CHUNK", 64)            # 200 values: chunks of 64, 64, 64, 8
    values = np.random.default_rng(size).normal(size=size).astype(np.float32)
    table = tb_logging.histogram_buckets(values).numpy()
    expected = tf.histogram_fixed_width(values, [values.min(), values.max()], nbins=30).numpy()
    np.testing.assert_array_equal(table[:, 2], expected)


def test_display_step_computes_histogram_tables_of_the_values_before_the_update():
    model = build_tiny_model(dropout=0.0)
    models.set_trainable(model, ["classifier"])
    images, labels = separable_arrays(6)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    plain = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.1), num_classes=NUM_CLASSES)
    data = tf.data.Dataset.from_tensors((images, labels))
    raw = plain.train_step(next(iter(data)), data.element_spec, display=True).display
    for variable in model.trainable_variables:          # undo the step, then take it with tables
        variable.assign(before[variable.path])
    tables = StepRunner(model, model.trainable_variables, keras.optimizers.SGD(0.1), num_classes=NUM_CLASSES,
                        display_summary=histogram_tables).train_step(next(iter(data)), data.element_spec,
                                                                     display=True).display
    assert set(tables) == set(raw) == {"classifier/kernel", "classifier/bias", "classifier/kernel/gradient",
                                       "classifier/bias/gradient"}
    for tag, table in tables.items():
        assert table.shape == (30, 3)
        expected = histogram_buckets(raw[tag]).numpy()
        np.testing.assert_array_equal(table.numpy()[:, 2], expected[:, 2])
        np.testing.assert_allclose(table.numpy()[:, :2], expected[:, :2], rtol=1e-12)  # graph vs eager linspace
    np.testing.assert_array_equal(raw["classifier/kernel"], before["classifier/kernel"])


def test_confusion_image_cells_say_the_row_shares_and_counts():
    """Composed in pixels over a frame drawn once: each cell in the colour of its row share (as imshow
    with Blues on [0, 1]), its count written in white on dark cells and black on light ones."""
    from matplotlib import colormaps

    from utilities.finetune.confusion_image import ConfusionFigure

    figure = ConfusionFigure(["Baroque", "Realism", "Cubism"])
    matrix = np.array([[9, 1, 0], [2, 2, 0], [0, 0, 0]])
    first = figure.pixels(matrix, "epoch 1: accuracy 0.786")
    again = figure.pixels(np.zeros((3, 3), int), "")
    assert first.dtype == np.uint8 and first.shape == figure.frame.shape
    assert np.array_equal(figure.pixels(matrix, "epoch 1: accuracy 0.786"), first)   # the frame is not drawn on
    share = np.array([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    blues = colormaps["Blues"]
    for i in range(3):
        top, bottom = sorted(figure.y_edges[i:i + 2])
        for j in range(3):
            left, right = figure.x_edges[j:j + 2]
            cell = first[top + 2:bottom - 2, left + 2:right - 2].reshape(-1, 3).astype(int)
            expected = np.round(np.array(blues(min(int(share[i, j] * 256), 255))[:3]) * 255)
            corner = cell[0]
            assert np.abs(corner - expected).max() <= 1, (i, j, corner, expected)
            ink = np.abs(cell - corner).sum(axis=1) > 60      # the count's glyphs
            assert ink.any(), (i, j)
            glyphs = cell[ink].mean(axis=0)
            assert (glyphs.mean() > corner.mean()) == (share[i, j] > 0.5), (i, j)   # white on dark, black on light
    # the title is written above the cells, and only when given
    title_rows = slice(0, min(figure.y_edges))
    assert (first[title_rows] != again[title_rows]).any()
    assert np.array_equal(again[title_rows], figure.frame[title_rows])
