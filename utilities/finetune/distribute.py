"""Choosing a tf.distribute strategy for the custom training loop.

The same loop runs on one device, on every local GPU (MirroredStrategy) or on several
machines (MultiWorkerMirroredStrategy, configured by the TF_CONFIG environment variable).
A strategy must be created before TensorFlow runs anything else, so the CLI creates it first.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGY_CHOICES = ("auto", "none", "mirrored", "multiworker")


class DistributeError(ValueError):
    """The requested strategy cannot run here (the message says what to do)."""


def _tf_config_workers() -> int:
    """Number of tasks (chief + workers) in TF_CONFIG; 0 when it is unset or unreadable."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (json.JSONDecodeError, AttributeError):
        raise DistributeError("TF_CONFIG is not valid JSON; fix or unset it") from None
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def _local_devices() -> list[str]:
    """GPUs if there are any, else every (logical) CPU device."""
    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


def select_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """Strategy for `kind`: 'auto', 'none', 'mirrored' or 'multiworker'.

    auto: multi-worker when TF_CONFIG names more than one task, mirrored when there is more
    than one local GPU, else the default (single-device) strategy. 'mirrored' without GPUs
    mirrors over the logical CPU devices (useful for tests; slower than 'none' on real CPUs).
    """
    if kind not in STRATEGY_CHOICES:
        raise DistributeError(f"--distribute must be one of {', '.join(STRATEGY_CHOICES)}, got {kind!r}")
    if kind == "auto":
        if _tf_config_workers() > 1:
            kind = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "none"
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=_local_devices())
    if _tf_config_workers() == 0:
        raise DistributeError("--distribute multiworker needs TF_CONFIG (cluster + task) in the "
                              "environment of every worker; see the tf.distribute documentation")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes logs and the real checkpoints (worker 0 / the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)


def worker_id(strategy: tf.distribute.Strategy) -> str:
    """'worker-1', 'chief-0', ... for multi-worker runs, '' otherwise (names per-worker scratch dirs)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None) if resolver is not None else None
    return f"{task_type}-{resolver.task_id}" if task_type else ""


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True under MultiWorkerMirroredStrategy (each worker reads its own shard of the data)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line for the log: strategy class and replica count."""
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"


def unless_empty(strategy: tf.distribute.Strategy, compute, inputs, empty_shape, dtype=tf.float32):
    """`compute()` inside a replica, or a (0, *empty_shape) tensor when this replica's batch is empty.

    With several replicas the last, short batch leaves a replica empty (a batch of 1 over 2
    replicas). TF 2.21's oneDNN convolution returns a wrongly shaped tensor for an empty batch
    (its input's shape), which breaks the next layer (AlexNet's grouped conv2 cannot split 3
    channels), so a network must only run on replicas that hold examples. With one replica a
    batch is never empty and `compute` runs as it is.
    """
    if strategy.num_replicas_in_sync == 1:
        return compute()
    return tf.cond(tf.shape(inputs)[0] > 0, compute, lambda: tf.zeros((0, *empty_shape), dtype))


PEER_FAILURES = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)
"""What a collective operation raises when another worker of a multi-worker run is gone."""


def peer_failure_message(error: tf.errors.OpError) -> str:
    """One line for a worker that lost its peers (the collective op's message is pages long)."""
    detail = " ".join(str(getattr(error, "message", error)).split())
    unhealthy = detail.split("The following tasks are unhealthy (stopped sending heartbeats):")
    who = unhealthy[1].split("The tasks")[0].strip() if len(unhealthy) > 1 else ""
    return (f"another worker of the run stopped{f' ({who})' if who else ''}: training cannot go on; "
            "restart every worker with the same command plus --resume (finished epochs are checkpointed "
            f"by the chief) [{type(error).__name__}]")

