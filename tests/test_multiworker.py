"""`--distribute multiworker` for real: two worker processes on 127.0.0.1, as on two machines.

Each worker is a fresh Python process with its own TF_CONFIG (cluster of two loopback ports);
they train the tiny model with the project's loop (tests/multiworker_train.py), and the same
training in one process is the reference. The CLI test runs assignment_3a.py itself on two
workers. Every subprocess has a timeout: a hang fails the test instead of stalling CI.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import assignment_3a
from tests.fixtures_training import image_set  # noqa: F401
from utilities.finetune import distribute
from utilities.finetune.experiment import Experiment

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_workers(command_for, count: int = 2) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    processes = []
    for index in range(count):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(command_for(index), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    return processes


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            pytest.fail(f"a worker hung for more than {TIMEOUT_S} s")
        results.append((process.returncode, out, err))
    return results


@pytest.mark.slow
def test_two_workers_hold_the_single_process_weights(tmp_path):
    script = [sys.executable, "tests/multiworker_train.py", "multiworker"]
    results = finish(start_workers(lambda i: [*script, str(tmp_path / f"worker{i}.npz")]))
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    single = subprocess.run([sys.executable, "tests/multiworker_train.py", "none", str(tmp_path / "single.npz")],
                            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert single.returncode == 0, single.stderr[-2000:]
    first, second, reference = (np.load(tmp_path / f"{name}.npz") for name in ("worker0", "worker1", "single"))
    assert bool(first["chief"]) and not bool(second["chief"]) and int(first["replicas"]) == 2
    names = [k for k in reference.files if k.startswith("weight_")]
    for name in names:
        np.testing.assert_array_equal(first[name], second[name])          # in lockstep
        np.testing.assert_allclose(first[name], reference[name], rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(first["losses"], reference["losses"], rtol=1e-5)


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_other_with_an_error(tmp_path):
    script = [sys.executable, "tests/multiworker_train.py", "multiworker"]
    results = finish(start_workers(
        lambda i: [*script, str(tmp_path / f"worker{i}.npz"), *(["--die-after-step", "2"] if i else [])]))
    (survivor, _, err), (dead, _, _) = results
    assert dead == 17 and survivor != 0
    assert "UnavailableError" in err or "unhealthy" in err, err[-2000:]


def test_the_cli_turns_a_lost_peer_into_one_line(image_set, tmp_path, alexnet_npy, capsys, monkeypatch):  # noqa: F811
    message = ("Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are "
               "unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have crashed.")

    def lost_peer(self):
        raise tf.errors.UnavailableError(None, None, message)

    monkeypatch.setattr(Experiment, "run", lost_peer)
    code = assignment_3a.main(["--weights", str(alexnet_npy), "--train-list", str(image_set.train_list),
                               "--val-list", str(image_set.val_list), "--num-classes", "3",
                               "--checkpoint-dir", str(tmp_path / "ckpt"), "--logdir", str(tmp_path / "logs")])
    err = capsys.readouterr().err.strip()
    assert code == assignment_3a.EXIT_ERROR and len(err.splitlines()) == 1, err
    assert err.startswith("error: another worker of the run stopped (/job:worker/replica:0/task:1)")
    assert "--resume" in err and distribute.PEER_FAILURES


@pytest.mark.slow
def test_the_command_on_two_workers_only_the_chief_writes(image_set, tmp_path, alexnet_npy):  # noqa: F811
    def command(index: int) -> list[str]:
        return [sys.executable, "assignment_3a.py", "--distribute", "multiworker", "--weights", str(alexnet_npy),
                "--train-list", str(image_set.train_list), "--val-list", str(image_set.val_list),
                "--num-classes", "3", "--batch-size", "8", "--epochs", "1", "--run-name", "two",
                "--logdir", str(tmp_path / f"logs{index}"), "--checkpoint-dir", str(tmp_path / f"ckpt{index}"),
                "--no-progress"]
    results = finish(start_workers(command))
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    assert "CollectiveAllReduceStrategy with 2 replica(s)" in results[0][1]   # = MultiWorkerMirrored
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt0" / "two")) is not None
    assert (tmp_path / "ckpt0" / "two" / "final.weights.h5").exists()
    assert list((tmp_path / "logs0" / "two").rglob("events.out.tfevents.*"))
    # the other worker wrote nothing that stays: no logs, no checkpoint, no exported weights
    assert not list((tmp_path / "logs1").rglob("events.out.tfevents.*"))
    assert not (tmp_path / "ckpt1" / "two" / "final.weights.h5").exists()
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt1" / "two")) is None
