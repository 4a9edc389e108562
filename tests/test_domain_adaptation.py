"""domain_adaptation.py and its training loop: the compiled step, files, logs, --resume, errors, MNIST-M mode.

Tiny networks (conv widths 4, 8) and one to three epochs: these check the machinery; whether
DANN actually adapts is tests/test_domain_adaptation_learning.py.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import domain_adaptation
from models.dann import build_dann
from tests.domain_adaptation_bsr import bsr_archive_bytes
from tests.loopback_server import serve
from utilities.common.run_checkpoint import RunCheckpoint
from utilities.common.run_folder import LOCK_NAME
from utilities.digits import load_image_set
from utilities.domain_adaptation import Config, load_domains, run_experiment
from utilities.domain_adaptation.metrics_log import COLUMNS
from utilities.domain_adaptation.schedules import parse_lambda
from utilities.domain_adaptation.training import DannStep

TINY = ["--filters", "4,8", "--batch-size", "256", "--no-progress", "--embedding", "pca"]  # 5 steps an epoch


@pytest.fixture(scope="module")
def digits_domains():
    return load_domains("digits", Path("unused"))


def _tiny_config(tmp_path: Path, **kwargs) -> Config:
    settings = dict(filters=(4, 8), batch_size=256, epochs=2, out_dir=tmp_path / "results", logdir=tmp_path / "logs",
                    progress=False, embedding="none")
    return Config(**{**settings, **kwargs})


def _step_once(lambda_spec: str, compiled: bool, batch):
    keras.utils.set_random_seed(5)
    net = build_dann(filters=(4, 8), hidden=16)
    before = [v.numpy().copy() for v in net.trainable_variables]
    step = DannStep(net, keras.optimizers.SGD(1.0), parse_lambda(lambda_spec), 10, compiled=compiled)
    step(*batch)
    return net, before, [v.numpy() for v in net.trainable_variables]


def test_one_compiled_step_applies_the_label_gradient_plus_the_reversed_domain_gradient():
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(2, 6, 28, 28, 3)).astype(np.float32)
    ys = np.arange(6) % 10
    batch = (xs, ys, xt)
    net, before, after = _step_once("fixed:0.5", compiled=True, batch=batch)
    _, _, eager_after = _step_once("fixed:0.5", compiled=False, batch=batch)
    for a, b in zip(after, eager_after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    # by hand, from the initial weights: features get d(label)/dF - 0.5 d(domain)/dF
    keras.utils.set_random_seed(5)
    ref = build_dann(filters=(4, 8), hidden=16)
    domains = tf.constant([[0.0]] * 6 + [[1.0]] * 6)
    head = keras.Sequential(ref.domain_classifier.layers[2:])  # the domain layers without the reversal
    with tf.GradientTape(persistent=True) as tape:
        features = ref.feature_extractor(np.concatenate([xs, xt]))
        label_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(ys, ref.label_predictor(
            features[:6])))
        domain_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(domains, head(features)))
    conv = ref.feature_extractor.trainable_variables
    expected = [w - (gl - 0.5 * gd) for w, gl, gd in zip(
        [v.numpy() for v in conv], tape.gradient(label_loss, conv), tape.gradient(domain_loss, conv), strict=True)]
    for got, want in zip(after[:len(conv)], expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # the domain classifier itself descends its loss (no reversal on its own weights)
    dense = head.trainable_variables
    for v, g, b in zip(dense, tape.gradient(domain_loss, dense), before[-len(dense):], strict=True):
        np.testing.assert_allclose(net.domain_classifier.get_layer(v.path.split("/")[0]).trainable_variables[
            0 if "kernel" in v.path else 1].numpy(), b - g.numpy(), rtol=1e-4, atol=1e-6)


def test_cli_writes_csv_tensorboard_checkpoints_summary_and_figure(tmp_path, capsys):
    rc = domain_adaptation.main(["--epochs", "2", *TINY, "--out", str(tmp_path / "r"), "--logdir",
                                 str(tmp_path / "l")])
    assert rc == 0, capsys.readouterr().err
    run = tmp_path / "r" / "digits_dann_schedule_seed0"
    out = capsys.readouterr().out
    assert "target accuracy" in out
    # --no-progress still reports every epoch, in the handout's form: train and test, per domain
    lines = out.splitlines()
    for epoch in (1, 2):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"epoch {epoch}/2  lambda "))
        assert [line.split("[")[0].strip() + " " + line.split("[")[1][:6] for line in lines[at + 1:at + 5]] == [
            "train SOURCE", "train TARGET", "test SOURCE", "test TARGET"]
        for line in lines[at + 1:at + 5]:
            assert re.search(r"\] Class loss/acc: \d+\.\d+ / \d+(\.\d+)?%, Domain loss/acc: \d+\.\d+ / \d+(\.\d+)?%$",
                             line), line
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS) and [r["epoch"] for r in rows] == ["1", "2"]
    assert 0 < float(rows[0]["lambda"]) < float(rows[1]["lambda"]) < 1  # the schedule, at each epoch's end
    assert float(rows[1]["learning_rate"]) < 0.01  # annealed
    summary = json.loads((run / "summary.json").read_text())
    assert summary["target_accuracy"] == pytest.approx(float(rows[1]["target_accuracy"]), abs=1e-5)
    assert (run / "features.png").stat().st_size > 1000
    assert json.loads((run / "checkpoints" / "run.json").read_text())["mode"] == "dann"
    tags = set()
    for path in (tmp_path / "l" / "digits_dann_schedule_seed0").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    assert {"accuracy/source", "accuracy/target", "accuracy/domain", "schedule/lambda", "test/target_class_loss",
            "test/target_domain_accuracy", "train/source_domain_loss", "train/target_accuracy"} <= tags
    assert not [p for p in run.rglob("*") if p.name.startswith(".") and p.name != LOCK_NAME]  # no temporary files
    # the printed test numbers are the CSV's last row, and the per-domain domain accuracies average to the column
    last = {k: float(v or "nan") for k, v in rows[1].items()}
    test_target = next(line for line in reversed(lines) if line.startswith("  test  [TARGET]"))
    assert f"{round(last['target_class_loss'], 5)} / {round(100 * last['target_accuracy'], 2)}%" in test_target
    assert last["domain_accuracy"] == pytest.approx(
        0.5 * (last["source_domain_accuracy"] + last["target_domain_accuracy"]), abs=1e-5)
    assert last["train_domain_accuracy"] == pytest.approx(
        0.5 * (last["train_source_domain_accuracy"] + last["train_target_domain_accuracy"]), abs=1e-5)
    assert all(np.isfinite(last[k]) for k in COLUMNS if k not in ("pseudo_fraction", "pseudo_accuracy"))


def test_resume_after_an_interrupt_ends_where_an_uninterrupted_run_ends(tmp_path, monkeypatch, digits_domains):
    whole = run_experiment(_tiny_config(tmp_path / "a", epochs=3, mode="pseudo-label", lambda_spec="schedule",
                                        pseudo_start=0.3, pseudo_threshold=0.11, learning_rate=0.1), digits_domains)
    original_save = RunCheckpoint.save

    def save_then_stop(self, epochs_done):
        path = original_save(self, epochs_done)
        if epochs_done == 2:
            raise KeyboardInterrupt
        return path

    config = _tiny_config(tmp_path / "b", epochs=3, mode="pseudo-label", lambda_spec="schedule", pseudo_start=0.3,
                          pseudo_threshold=0.11, learning_rate=0.1)
    monkeypatch.setattr(RunCheckpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, digits_domains)
    monkeypatch.setattr(RunCheckpoint, "save", original_save)
    resumed = run_experiment(Config(**{**config.__dict__, "resume": True}), digits_domains)
    assert [r["epoch"] for r in resumed.rows] == [1, 2, 3]
    for a, b in zip(whole.rows, resumed.rows, strict=True):
        for key in ("target_accuracy", "lambda", "learning_rate", "pseudo_fraction"):
            np.testing.assert_allclose(a[key], b[key], atol=2e-3, err_msg=key)
    assert resumed.rows[-1]["pseudo_fraction"] > 0  # pseudo-labels were used after the resume
    assert resumed.scores.source_accuracy == pytest.approx(whole.scores.source_accuracy, abs=5e-3)


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    base = [*TINY, "--epochs", "1", "--out", str(tmp_path / "r"), "--logdir", str(tmp_path / "l")]
    for extra in (["--lambda", "sometimes"], ["--lambda", "fixed:nan"], ["--gamma", "nan"],
                  ["--learning-rate", "inf"]):  # argparse refuses them before anything starts
        with pytest.raises(SystemExit) as exit_info:
            domain_adaptation.main([*base, *extra])
        assert exit_info.value.code == 2
        assert f"argument {extra[0]}" in capsys.readouterr().err
    cases = [
        (["--mode", "source-only", "--lambda", "schedule"], "source-only"),
        (["--resume"], "no checkpoint"),
        (["--pseudo-threshold", "0"], "--pseudo-threshold"),
        (["--compare", "--run-name", "x"], "--compare"),
    ]
    for extra, expected in cases:
        assert domain_adaptation.main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert domain_adaptation.main(base) == 0
    capsys.readouterr()
    assert domain_adaptation.main(base) == 2  # the run exists: neither --resume nor --overwrite
    assert "--resume" in capsys.readouterr().err
    assert domain_adaptation.main([*base, "--resume", "--learning-rate", "0.1"]) == 2
    assert "learning_rate: 0.01 -> 0.1" in capsys.readouterr().err
    assert domain_adaptation.main([*base, "--overwrite"]) == 0


def test_mnist_mode_builds_mnistm_from_the_archive_and_trains(tmp_path, monkeypatch, capsys):
    """MNIST -> MNIST-M end to end, with the data 'already there': MNIST from a stub (real handwriting,
    the bundled digits), BSR_bsds500.tgz in --data-dir; and offline without the archive: one line, exit 1."""
    import utilities.domain_adaptation.domains as domains_module

    digits = load_image_set("digits")
    monkeypatch.setattr(domains_module, "load_image_set", lambda name, **kw: digits)
    data = tmp_path / "data"
    with serve({}) as (base, _):
        rc = domain_adaptation.main(["--dataset", "mnist", *TINY, "--epochs", "1", "--data-dir", str(data),
                                     "--bsds-url", base + "/BSR_bsds500.tgz", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and base + "/BSR_bsds500.tgz" in err and "BSR_bsds500.tgz" in err
    data.mkdir(exist_ok=True)
    (data / "BSR_bsds500.tgz").write_bytes(bsr_archive_bytes())
    rc = domain_adaptation.main(["--dataset", "mnist", *TINY, "--epochs", "1", "--data-dir", str(data),
                                 "--out", str(tmp_path / "r"), "--logdir", str(tmp_path / "l")])
    assert rc == 0, capsys.readouterr().err
    assert (data / "mnistm.npz").exists()
    summary = json.loads((tmp_path / "r" / "mnist_dann_schedule_seed0" / "summary.json").read_text())
    assert summary["target"] == "MNIST-M" and summary["settings"]["dataset"] == "mnist"


def test_compare_writes_the_table_csv_and_before_after_figure(tmp_path, digits_domains):
    from utilities.domain_adaptation import compare
    result = compare(_tiny_config(tmp_path, epochs=1, embedding="pca"), [0], domains=digits_domains)
    assert list(result.results) == ["source-only", "dann", "dann, fixed lambda=1", "pseudo-label"]
    lines = result.table.strip().splitlines()
    assert len(lines) == 6 and lines[2].startswith("| source-only | 1 |")
    with open(tmp_path / "results" / "comparison.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (tmp_path / "results" / "features_comparison.png").stat().st_size > 1000
    assert result.files["curves"] == tmp_path / "results" / "comparison_curves.png"
    assert result.files["curves"].stat().st_size > 1000
    assert (tmp_path / "results" / "digits_dann_fixed1_seed0" / "metrics.csv").exists()


def test_the_report_is_printed_with_progress_bars_too(tmp_path, capsys):
    args = ["--filters", "4,8", "--batch-size", "256", "--embedding", "none", "--epochs", "1", "--mode", "source-only",
            "--out", str(tmp_path / "r"), "--logdir", str(tmp_path / "l")]
    assert domain_adaptation.main(args) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1  lambda 0.000" in out
    assert "  test  [SOURCE] Class loss/acc: " in out and "  train [TARGET] Class loss/acc: " in out
