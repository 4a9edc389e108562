"""assignment_3a.py end to end: real AlexNet with seeded synthetic weights on a generated dataset.

24 readable training images + 1 corrupt one, batch 8: 3 steps per epoch, so with
--display-step 3 the train summaries land on steps 0, 3, 6, ... and validation on 3, 6, 9.
"""
from __future__ import annotations

import gc
import json
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import assignment_3a
import models
from tests.fixtures_training import image_set, read_events, read_scalars  # noqa: F401
from tests.synthetic_weights import alexnet_arrays, write_pickled_npy
from utilities.finetune import training

STEPS_PER_EPOCH = 3


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def cli_args(image_set, tmp_path, alexnet_npy, *extra):  # noqa: F811
    # --explain-every 0: explanations in TensorBoard are tested in tests/test_explain_logging.py;
    # --cache-precision float32 (unless given): cached and uncached runs are compared exactly, and auto
    # picks bfloat16 on some machines only (tests/test_cache_precision.py)
    precision = [] if "--cache-precision" in extra else ["--cache-precision", "float32"]
    return ["--weights", str(alexnet_npy), "--train-list", str(image_set.train_list),
            "--val-list", str(image_set.val_list), "--num-classes", "3", "--batch-size", "8",
            "--logdir", str(tmp_path / "logs"), "--checkpoint-dir", str(tmp_path / "ckpt"),
            "--no-progress", "--seed", "0", "--explain-every", "0", *precision, *extra]


def hparams_of(run_dir) -> dict:
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                            for k, v in data.session_start_info.hparams.items()}
    return {}


def checkpoint_weights(directory, layer: str) -> np.ndarray:
    """A kernel from the newest checkpoint, found by its (unique) shape: trained variables are
    stored under the optimizer's path, frozen ones under the model's."""
    reader = tf.train.load_checkpoint(str(directory))
    wanted = {"fc7": [4096, 4096], "fc6": [9216, 4096], "classifier": [4096, 3]}[layer]
    (name,) = [n for n, shape in reader.get_variable_to_shape_map().items() if shape == wanted]
    return reader.get_tensor(name)


def assert_display_steps(events, epochs: int, gradient_layers: list[str]):
    display = list(range(0, epochs * STEPS_PER_EPOCH, 3))
    train = events["train"]
    assert train["cross_entropy"] == train["accuracy"] == train["learning_rate"] == display
    gradient_tags = sorted(tag for tag in train if "gradient" in tag)
    assert gradient_tags == sorted(f"{layer}/{w}/gradient" for layer in gradient_layers for w in ("bias", "kernel"))
    for tag in gradient_tags:
        assert train[tag] == display, tag
        assert train[tag.removesuffix("/gradient")] == display
    validation = [STEPS_PER_EPOCH * (e + 1) for e in range(epochs)]
    assert events["validation"] == {"cross_entropy": validation, "accuracy": validation,
                                    "confusion_matrix": validation}


@pytest.mark.slow
def test_remove_fc1_full_run_logs_and_learns(image_set, tmp_path, alexnet_npy, capsys):  # noqa: F811
    code = assignment_3a.main(cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "1", "--epochs", "3",
                                       "--cache-features", "off", "--run-name", "fc1"))
    out = capsys.readouterr().out
    assert code == 0
    assert_display_steps(read_events(tmp_path / "logs" / "fc1"), 3, ["classifier", "fc7"])
    assert hparams_of(tmp_path / "logs" / "fc1")["remove_fc"] == 1
    history = json.loads((tmp_path / "ckpt" / "fc1" / "run.json").read_text())["history"]
    assert [h["step"] for h in history] == [3, 6, 9]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]   # an easy task: the loss falls
    assert history[-1]["val_accuracy"] > 0.6                             # chance is 1/3
    assert "Best validation accuracy" in out and str(tmp_path / "logs" / "fc1") in out
    assert "full network" in out and "Skipped unreadable images: 1 training, 0 validation" in out
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "fc1")).endswith("ckpt-3")
    # only what training changes is checkpointed: fc7 and the classifier, not fc6 or the convolutions
    shapes = tf.train.load_checkpoint(str(tmp_path / "ckpt" / "fc1")).get_variable_to_shape_map().values()
    assert [4096, 4096] in shapes and [4096, 3] in shapes
    assert [9216, 4096] not in shapes and [11, 11, 3, 96] not in shapes
    exported = tmp_path / "ckpt" / "fc1" / "final.weights.h5"
    assert f"Fine-tuned weights: {exported}" in out
    reloaded = models.build_model("alexnet", weights=exported, remove_fc=1, num_classes=3)
    np.testing.assert_array_equal(reloaded.get_layer("fc7").get_weights()[0],
                                  checkpoint_weights(tmp_path / "ckpt" / "fc1", "fc7"))
    # the same run through the feature cache gives the same weights
    code = assignment_3a.main(cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "1", "--epochs", "3",
                                       "--cache-features", "on", "--run-name", "fc1_cached"))
    assert code == 0 and "cached fc6 output" in capsys.readouterr().out
    for layer in ("fc7", "classifier"):
        plain = checkpoint_weights(tmp_path / "ckpt" / "fc1", layer)
        cached = checkpoint_weights(tmp_path / "ckpt" / "fc1_cached", layer)
        np.testing.assert_allclose(cached, plain, rtol=1e-3, atol=1e-5, err_msg=layer)
    cached_val = read_scalars(tmp_path / "logs" / "fc1_cached", "validation", "cross_entropy")
    plain_val = read_scalars(tmp_path / "logs" / "fc1", "validation", "cross_entropy")
    assert cached_val == pytest.approx(plain_val, rel=1e-3, abs=1e-5)


@pytest.mark.slow
def test_remove_fc2_interrupted_and_resumed_equals_uninterrupted(image_set, tmp_path, alexnet_npy,  # noqa: F811
                                                                 capsys, monkeypatch):
    args = cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "2", "--epochs", "2")
    assert assignment_3a.main([*args, "--run-name", "whole"]) == 0
    events = read_events(tmp_path / "logs" / "whole")
    assert_display_steps(events, 2, ["classifier", "fc6"])
    assert hparams_of(tmp_path / "logs" / "whole")["remove_fc"] == 2
    assert "cached flatten output" in capsys.readouterr().out  # auto: only FC layers train

    original_step = training.StepRunner.train_step

    def killed_in_second_epoch(self, batch, spec, *, display=False):
        if int(self.optimizer.iterations.numpy()) == STEPS_PER_EPOCH + 1:
            signal.raise_signal(signal.SIGTERM)  # like `kill`: the CLI turns it into a clean stop
        return original_step(self, batch, spec, display=display)

    monkeypatch.setattr(training.StepRunner, "train_step", killed_in_second_epoch)
    assert assignment_3a.main([*args, "--run-name", "killed"]) == assignment_3a.EXIT_INTERRUPTED
    assert "--resume --run-name killed" in capsys.readouterr().err
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "killed")).endswith("ckpt-1")
    monkeypatch.setattr(training.StepRunner, "train_step", original_step)

    assert assignment_3a.main([*args, "--resume", "--run-name", "killed"]) == 0
    out = capsys.readouterr().out
    assert "Resuming killed" in out and "epoch 1, step 3" in out
    resumed = read_events(tmp_path / "logs" / "killed")
    assert resumed["train"]["cross_entropy"] == [0, 3, 3]        # step 3 logged before the kill and again
    assert resumed["validation"]["accuracy"] == [3, 6]
    # ... but TensorBoard shows one curve: the restart marker purges what the killed run logged at >= 3
    for sub, tag, steps in (("train", "cross_entropy", [0, 3]), ("train", "fc6/kernel/gradient", [0, 3]),
                            ("train", "images_per_second", [2, 5]), ("validation", "accuracy", [3, 6])):
        accumulator = EventAccumulator(str(tmp_path / "logs" / "killed" / sub), size_guidance={"tensors": 0})
        accumulator.Reload()
        assert [e.step for e in accumulator.Tensors(tag)] == steps, (sub, tag)
    killed_loss = read_scalars(tmp_path / "logs" / "killed", "train", "cross_entropy")
    whole_loss = read_scalars(tmp_path / "logs" / "whole", "train", "cross_entropy")
    assert killed_loss == pytest.approx(whole_loss, rel=1e-4)
    for layer in ("fc6", "classifier"):
        np.testing.assert_allclose(checkpoint_weights(tmp_path / "ckpt" / "killed", layer),
                                   checkpoint_weights(tmp_path / "ckpt" / "whole", layer),
                                   rtol=1e-4, atol=1e-6, err_msg=layer)
    history = json.loads((tmp_path / "ckpt" / "killed" / "run.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]


def test_missing_lists_say_how_to_download(tmp_path, capsys):
    code = assignment_3a.main(["--train-list", str(tmp_path / "nope.txt"), "--val-list", str(tmp_path / "x.txt")])
    err = capsys.readouterr().err
    assert code == 1 and "python utilities/download_wikiart.py" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_weights_offline_is_one_line(image_set, tmp_path, capsys, monkeypatch):  # noqa: F811
    def offline(name, **kwargs):
        raise models.WeightsError("AlexNet ImageNet weights unavailable: cannot reach the server; "
                                  "save bvlc_alexnet.npy as weights/bvlc_alexnet.npy")
    monkeypatch.setattr("models.registry.imagenet_weights", offline)
    code = assignment_3a.main(["--train-list", str(image_set.train_list), "--val-list", str(image_set.val_list),
                               "--num-classes", "3", "--checkpoint-dir", str(tmp_path), "--logdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.strip().splitlines() == [
        "error: AlexNet ImageNet weights unavailable: cannot reach the server; "
        "save bvlc_alexnet.npy as weights/bvlc_alexnet.npy"]


@pytest.mark.parametrize("extra, message", [
    (["--train-layers", "fc9"], "unknown layer"),
    (["--resume"], "no checkpoint found"),
    (["--num-classes", "2"], "labels must be 0..1"),
    (["--lrn-order", "assignment", "--model", "vgg16"], "only applies to --model alexnet"),
])
def test_bad_flags_are_one_line_errors(image_set, tmp_path, alexnet_npy, capsys, extra, message):  # noqa: F811
    args = cli_args(image_set, tmp_path, alexnet_npy, "--epochs", "1")
    code = assignment_3a.main([*args, *extra])  # a repeated flag: argparse keeps the last value
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_mixed_bfloat16_run(image_set, tmp_path, alexnet_npy, capsys):  # noqa: F811
    code = assignment_3a.main(cli_args(image_set, tmp_path, alexnet_npy, "--epochs", "1", "--run-name", "bf16",
                                       "--precision", "mixed_bfloat16"))
    assert code == 0, capsys.readouterr().err
    history = json.loads((tmp_path / "ckpt" / "bf16" / "run.json").read_text())["history"]
    assert np.isfinite(history[0]["train_loss"]) and np.isfinite(history[0]["val_loss"])
    assert hparams_of(tmp_path / "logs" / "bf16")["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    reader = tf.train.load_checkpoint(str(tmp_path / "ckpt" / "bf16"))
    assert {reader.get_variable_to_dtype_map()[n] for n in reader.get_variable_to_shape_map()
            if "VARIABLE_VALUE" in n and reader.get_variable_to_shape_map()[n] == [4096, 4096]} == {tf.float32}


@pytest.mark.slow
def test_non_finite_loss_exits_with_advice(image_set, tmp_path, alexnet_npy, capsys):  # noqa: F811
    code = assignment_3a.main(cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "2", "--epochs", "2",
                                       "--learning-rate", "1e30", "--run-name", "nan"))
    err = capsys.readouterr().err
    assert code == assignment_3a.EXIT_NONFINITE
    assert "lower --learning-rate" in err and "Traceback" not in err
    # nothing unhealthy was saved, and run.json is strict JSON
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt" / "nan")) is None
    json.loads((tmp_path / "ckpt" / "nan" / "run.json").read_text(), parse_constant=lambda c: pytest.fail(c))


def test_resume_refuses_other_frozen_weights(image_set, tmp_path, alexnet_npy, capsys):  # noqa: F811
    """Checkpoints hold the trained layers only, so the frozen ones must come back identical."""
    args = cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "1", "--epochs", "1", "--run-name", "base")
    assert assignment_3a.main(args) == 0
    info = json.loads((tmp_path / "ckpt" / "base" / "run.json").read_text())
    assert len(info["frozen_fingerprint"]) == 64
    other = tmp_path / "other_alexnet.npy"
    write_pickled_npy(other, alexnet_arrays(seed=5))
    resumed = [*cli_args(image_set, tmp_path, other, "--remove-fc", "1", "--epochs", "2", "--run-name", "base"),
               "--resume"]
    capsys.readouterr()
    assert assignment_3a.main(resumed) == 1
    err = capsys.readouterr().err.strip()
    assert "fine-tuned other frozen weights" in err and len(err.splitlines()) == 1, err
    same = [*cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "1", "--epochs", "2", "--run-name", "base"),
            "--resume"]
    assert assignment_3a.main(same) == 0
    assert "Resuming base" in capsys.readouterr().out



@pytest.mark.slow
def test_a_bfloat16_cache_is_said_and_learns(image_set, tmp_path, alexnet_npy, capsys):  # noqa: F811
    """--cache-precision bfloat16 (what auto picks on AMX / AVX-512 BF16 CPUs): checked against float32
    on the first images, named in the report, and the run learns the easy task as the float32 one does."""
    code = assignment_3a.main(cli_args(image_set, tmp_path, alexnet_npy, "--remove-fc", "1", "--epochs", "3",
                                       "--cache-features", "on", "--cache-precision", "bfloat16", "--run-name", "bf"))
    out = capsys.readouterr().out
    assert code == 0
    assert "for both flip states in bfloat16" in out and "the frozen layers ran in bfloat16 (the first" in out
    history = json.loads((tmp_path / "ckpt" / "bf" / "run.json").read_text())["history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"] and history[-1]["val_accuracy"] > 0.6
    assert hparams_of(tmp_path / "logs" / "bf")["cache_precision"] == "bfloat16"
