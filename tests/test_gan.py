"""GAN sibling: losses against their formulas, the networks, the quality numbers, the CLI and --resume.

The "it learns" runs are in test_gan_learning.py (marked slow).
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import io

import numpy as np
import pytest
import tensorflow as tf

import gan
from models.gan import build_digit_classifier, build_discriminator, build_generator
from tests.gan_judge import digits_images, judge_dir
from utilities.gan import GanConfig
from utilities.gan.config import auto_progress_epochs
from utilities.gan.data import epoch_batches, to_gan_range
from utilities.gan.losses import discriminator_loss, generator_loss
from utilities.gan.progress import ProgressRecord, row_indices, to_uint8
from utilities.gan.quality import entropy_bits, score_predictions, within_class_spread
from utilities.gan.trainer import GanTrainer

# Tiny networks for the CLI tests: the flow is what they check, not the samples.
TINY = ["--width", "4", "--latent-dim", "8", "--batch-size", "128", "--eval-samples", "100", "--no-progress"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_losses_equal_their_formulas():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(0, 3, 64), rng.normal(0, 3, 64)
    d_fake = _sigmoid(fake)
    non_saturating = -np.mean(np.log(d_fake))                  # -E log D(G(z))
    minimax = np.mean(np.log(1 - d_fake))                      # E log(1 - D(G(z)))
    d_loss = -np.mean(np.log(_sigmoid(real))) - np.mean(np.log(1 - d_fake))
    t = lambda a: tf.constant(a, tf.float32)  # noqa: E731
    np.testing.assert_allclose(generator_loss(t(fake)).numpy(), non_saturating, rtol=1e-5)
    np.testing.assert_allclose(generator_loss(t(fake), "minimax").numpy(), minimax, rtol=1e-5)
    np.testing.assert_allclose(discriminator_loss(t(real), t(fake)).numpy(), d_loss, rtol=1e-5)
    # Where D rejects the samples, the non-saturating loss still has a gradient, the minimax one hardly.
    rejected = tf.Variable([-8.0])
    with tf.GradientTape(persistent=True) as tape:
        ns, mm = generator_loss(rejected), generator_loss(rejected, "minimax")
    assert abs(tape.gradient(ns, rejected).numpy()[0]) > 0.99
    assert abs(tape.gradient(mm, rejected).numpy()[0]) < 1e-3
    # A very confident D gives large finite losses, not log(0).
    assert np.isfinite(generator_loss(t([-200.0])).numpy()) and generator_loss(t([-200.0])).numpy() > 199
    with pytest.raises(ValueError, match="minimax"):
        generator_loss(t(fake), "wasserstein")


@pytest.mark.parametrize("classes", [None, 10])
def test_network_shapes_and_ranges(classes):
    g, d = build_generator(latent_dim=8, width=4, num_classes=classes), build_discriminator(4, classes)
    z = tf.random.normal([6, 8], seed=1) * 10
    onehot = tf.one_hot(tf.range(6) % 10, 10)
    images = g([z, onehot] if classes else z, training=False)
    assert images.shape == (6, 32, 32, 1)
    assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    logits = d([images, onehot] if classes else images, training=False)
    assert logits.shape == (6, 1)
    if classes:  # the label changes the image and D's verdict
        other = tf.one_hot((tf.range(6) + 1) % 10, 10)
        assert not np.allclose(g([z, other], training=False), images)
        assert not np.allclose(d([images, other], training=False), logits)
    assert build_digit_classifier()(images).shape == (6, 10)


def test_data_scaling_and_epoch_order():
    unit = np.zeros((3, 28, 28, 1), np.float32)
    unit[:, 10, 12] = 1.0
    scaled = to_gan_range(unit)
    assert scaled.shape == (3, 32, 32, 1) and scaled.min() == -1.0 and scaled.max() == 1.0
    assert scaled[0, 12, 14, 0] == 1.0 and scaled[0, :2].max() == -1.0  # shifted by the 2-pixel pad
    x = np.arange(10, dtype=np.float32)[:, None, None, None] * np.ones((10, 32, 32, 1), np.float32)
    y = np.arange(10, dtype=np.int32)
    first = [b[1].numpy().tolist() for b in epoch_batches(x, y, 4, seed=0, epoch=1)]
    assert len(first) == 2 and all(len(b) == 4 for b in first)  # 10 // 4 full batches, the rest dropped
    assert first == [b[1].numpy().tolist() for b in epoch_batches(x, y, 4, seed=0, epoch=1)]
    assert first != [b[1].numpy().tolist() for b in epoch_batches(x, y, 4, seed=0, epoch=2)]


def test_quality_numbers():
    assert entropy_bits(np.eye(10)[3]) == 0.0
    assert entropy_bits(np.full(10, 0.1)) == pytest.approx(np.log2(10))
    requested = np.repeat(np.arange(10), 10)
    predicted = requested.copy()
    predicted[:10] = 1  # every sample asked to be a 0 comes out as a 1
    q = score_predictions(predicted, requested, 10)
    assert q.class_accuracy[0] == 0.0 and np.all(q.class_accuracy[1:] == 1.0) and q.accuracy == 0.9
    assert q.histogram[1] == 0.2 and q.entropy_bits < np.log2(10)
    collapsed = score_predictions(np.full(100, 7), None, 10)
    assert collapsed.entropy_bits == 0.0 and collapsed.accuracy is None
    images = np.random.default_rng(0).normal(size=(40, 4, 4, 1))
    groups = np.arange(40) % 2
    assert within_class_spread(np.repeat(images[:1], 40, axis=0), groups, 2) == 0.0  # identical copies
    assert within_class_spread(images, groups, 2) == pytest.approx(np.sqrt(2 * 16), rel=0.15)  # E|a-b| ~ sqrt(2d)


@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_losses_stay_finite_at_the_defaults(model):
    """Two compiled steps with every default (width, Adam settings, batch 128) on the real digits."""
    data = digits_images()
    trainer = GanTrainer(GanConfig(model=model))
    weights_before = trainer.generator.get_layer("g_up1").get_weights()[0].copy()
    for real, labels in epoch_batches(data.x_train, data.y_train, 128, seed=0, epoch=1).take(2):
        out = {k: float(v) for k, v in trainer.train_step(real, labels).items()}
        assert all(np.isfinite(v) for v in out.values()), out
        assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1
    assert not np.allclose(trainer.generator.get_layer("g_up1").get_weights()[0], weights_before)
    assert int(trainer.g_optimizer.iterations.numpy()) == 2 and int(trainer.d_optimizer.iterations.numpy()) == 2


def _run(argv, tmp_path):
    """gan.main in this process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    base = ["--results-dir", str(tmp_path / "results"), "--logdir", str(tmp_path / "logs"),
            "--classifier-dir", str(judge_dir())]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gan.main([*base, *argv])
    return code, out.getvalue(), err.getvalue()


def _metrics(run_dir):
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _generator_weights(path):
    model = build_generator(latent_dim=8, width=4, num_classes=10)
    model.load_weights(path)
    return model.get_weights()


def test_cli_outputs_and_resume_equals_an_uninterrupted_run(tmp_path):
    progress = ["--progress-steps", "0,5", "--progress-epochs", "2"]
    code, out, err = _run(["--model", "cdcgan", "--epochs", "2", "--run-name", "straight", *progress, *TINY],
                          tmp_path)
    assert code == 0, err
    run = tmp_path / "results" / "straight"
    for name in ("samples.png", "progress.png", "progress.npz", "losses.png", "metrics.csv", "steps.csv",
                 "generator.weights.h5", "checkpoints/run.json"):
        assert (run / name).stat().st_size > 0, name
    assert "epoch 2/2" in out and "conditional accuracy" in out and "class entropy" in out
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert len(_metrics(run)) == 2 and "accuracy_9" in header and "entropy_bits" in header and "diversity" in header
    steps = (run / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2 * (1347 // 128)
    assert list((tmp_path / "logs" / "straight").glob("events.out.tfevents.*"))

    assert _run(["--model", "cdcgan", "--epochs", "1", "--run-name", "split", *progress, *TINY], tmp_path)[0] == 0
    code, out, err = _run(["--model", "cdcgan", "--epochs", "2", "--run-name", "split", "--resume", *progress, *TINY],
                          tmp_path)
    assert code == 0, err
    assert "Resuming" in out and "epoch 2/2" in out and "epoch 1/2" not in out
    split = tmp_path / "results" / "split"
    straight_weights = _generator_weights(run / "generator.weights.h5")
    for a, b in zip(straight_weights, _generator_weights(split / "generator.weights.h5"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    straight_rows, split_rows = _metrics(run), _metrics(split)
    assert [r["epoch"] for r in split_rows] == ["1", "2"]
    for a, b in zip(straight_rows, split_rows, strict=True):
        np.testing.assert_allclose([float(a[k]) for k in a if k != "seconds"],
                                   [float(b[k]) for k in a if k != "seconds"], rtol=1e-4, atol=1e-5)
    assert len((split / "steps.csv").read_text().splitlines()) == len(steps)

    # The progress rows (issue 23: the handout's Fig. 10): before training, step 5 and every epoch end
    # (10 steps each), kept across --resume, each the generator of that moment on the same noise.
    straight_rows, split_rows = ProgressRecord(run).load(10 ** 9), ProgressRecord(split).load(10 ** 9)
    assert straight_rows.steps == split_rows.steps == [0, 5, 10, 20]
    assert straight_rows.epochs == [0.0, 0.5, 1.0, 2.0]
    for a, b in zip(straight_rows.images, split_rows.images, strict=True):
        assert a.shape == (10, 32, 32) and np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert not np.array_equal(straight_rows.images[0], straight_rows.images[-1])   # G moved
    trainer = GanTrainer(GanConfig(model="cdcgan", width=4, latent_dim=8))   # same seed: the same fixed noise
    trainer.generator.load_weights(run / "generator.weights.h5")
    diagonal = row_indices(True)
    assert [int(trainer.grid_labels[i]) for i in diagonal] == list(range(10))   # column d is digit d
    last = to_uint8(trainer.progress_samples(diagonal))
    assert np.abs(last.astype(int) - straight_rows.images[-1].astype(int)).max() <= 1
    chosen = straight_rows.select([2], [0, 5], steps_per_epoch=10)
    assert [label for label, _ in chosen] == ["before training", "step 5", "epoch 2"]

    # --resume with another learning rate is refused, naming it; nothing is trained.
    code, out, err = _run(["--model", "cdcgan", "--epochs", "3", "--run-name", "split", "--resume",
                           "--lr-d", "0.001", *TINY], tmp_path)
    assert code == 2 and "lr_d" in err and len(err.strip().splitlines()) == 1
    assert "--overwrite" in err and "without --resume" not in err   # the way to start over that works


def test_progress_epochs_chosen_by_default():
    assert auto_progress_epochs(1) == (1,)
    assert auto_progress_epochs(5) == (1, 2, 5)
    assert auto_progress_epochs(75) == (1, 2, 5, 10, 20, 50, 75)
    assert auto_progress_epochs(100) == (1, 2, 5, 10, 20, 50, 100)
    assert GanConfig(dataset="mnist5k").progress_rows == (1, 2, 5, 10, 20, 50, 75)
    assert GanConfig(progress_epochs=(3, 7)).progress_rows == (3, 7)


def test_learning_rate_comparison_figure_and_table(tmp_path):
    """Issue 23 (the handout's Figs. 13-16): one run per (lr D, lr G), one figure, one table; a pair
    that diverges is a row of the table, not the end of the comparison; the folder is claimed like a run's."""
    argv = ["--compare-lr", "--lr-d-values", "2e-4", "--lr-g-values", "2e-4,1e30", "--epochs", "1", *TINY]
    code, out, err = _run(argv, tmp_path)
    assert code == 0, err
    folder = tmp_path / "results" / "dcgan_digits_lr"
    assert (folder / "lr_samples.png").stat().st_size > 0
    for pair in ("lr_d0.0002_lr_g0.0002", "lr_d0.0002_lr_g1e+30"):
        assert (folder / pair / "checkpoints" / "run.json").exists()
        assert list((tmp_path / "logs" / "dcgan_digits_lr" / pair).glob("events.out.tfevents.*"))
    with (folder / "lr_table.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["lr_d"], r["lr_g"], r["status"]) for r in rows] == [
        ("0.0002", "0.0002", "done"), ("0.0002", "1e+30", "NaN losses in epoch 1")]
    good = _metrics(folder / "lr_d0.0002_lr_g0.0002")[-1]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "entropy_bits", "diversity"):
        assert float(rows[0][key]) == pytest.approx(float(good[key]), rel=1e-3, abs=1e-6), key
    assert rows[0]["epochs"] == "1" and rows[1]["epochs"] == "0" and rows[1]["d_loss"] == "nan"
    assert "entropy (bits)" in out and "NaN losses in epoch 1" in out and "lr_samples.png" in out
    assert (folder / "lr_d0.0002_lr_g0.0002" / "progress.png").exists()

    code, _, err = _run(argv, tmp_path)   # the same comparison again: the folder holds one
    assert code == 2 and "already holds a run" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run([*argv, "--resume"], tmp_path)   # done pairs are kept, the others started over
    assert code == 0, err
    assert "already has 1 epochs" in out and "NaN losses in epoch 1" in out
    code, _, err = _run(["--compare-lr", "--lr-d-values", "2e-4,2e-4", *TINY], tmp_path)
    assert code == 2 and "given twice" in err


@pytest.mark.parametrize("argv, says", [
    (["--progress-epochs", "0"], "--progress-epochs 0"),
    (["--lr-d-values", "0,1e-3", "--compare-lr"], "--lr-d-values"),
    (["--lr-g", "inf"], "--lr-g inf"),
    (["--resume", "--overwrite"], "choose one"),
    (["--epochs", "0"], "--epochs 0"),
    (["--batch-size", "5000"], "--batch-size 5000 is larger than the 1347"),
    (["--resume", "--run-name", "never"], "no checkpoint"),
    (["--run-name", "../up"], "--run-name"),
])
def test_unusable_flags_exit_2_with_one_line(tmp_path, argv, says):
    code, _, err = _run([*TINY, *argv], tmp_path)  # argv last: its flags win
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_mnist_offline_is_one_line_and_suggests_digits(tmp_path, monkeypatch):
    """The real MNIST loader against a loopback server that has no file: exit 2, one line."""
    from tests.loopback_server import serve
    from utilities.digits import load_image_set
    from utilities.gan import data as gan_data
    with serve({}) as (base, _):
        monkeypatch.setattr(gan_data, "load_image_set", lambda name: load_image_set(
            name, base_url=base + "/", cache=tmp_path / "keras", progress=False))
        code, _, err = _run(["--dataset", "mnist", *TINY], tmp_path)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "mnist.npz" in err and "--dataset digits" in err
    assert not (tmp_path / "results" / "dcgan_mnist").exists()


def test_judge_is_trained_once_and_cached(tmp_path, monkeypatch):
    from utilities.gan import judge as judge_module
    monkeypatch.setattr(judge_module, "EPOCHS", {"digits": 1})
    full = digits_images()
    data = dataclasses.replace(full, x_train=full.x_train[:256], y_train=full.y_train[:256])
    first = judge_module.load_or_train_judge(data, tmp_path, log=lambda _: None)
    assert first.trained_now and first.path == tmp_path / "digits_v1.weights.h5" and first.path.exists()
    again = judge_module.load_or_train_judge(data, tmp_path, log=lambda _: None)
    assert not again.trained_now and again.test_accuracy == first.test_accuracy
    first.path.write_bytes(b"not hdf5")
    said = []
    third = judge_module.load_or_train_judge(data, tmp_path, log=said.append)
    assert third.trained_now and "unreadable" in said[0]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_the_test_judge_reads_real_digits():
    """The yardstick of the learning tests is itself right on held-out real digits."""
    from tests.gan_judge import judge_model
    judge = judge_model()
    assert not judge.trained_now and judge.test_accuracy > 0.9
