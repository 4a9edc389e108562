"""Images/s of a network's forward, training step and input gradient.

Shared by bench/models_bench.py and bench/squeezenet_bench.py.
"""
from __future__ import annotations

import time

import tensorflow as tf


def measure(fn, x, y, repeats: int) -> float:
    """Images/s of `fn(x, y)`: best of `repeats` after tracing and one warm-up call."""
    fn(x, y)  # trace + warm up
    fn(x, y)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x, y).numpy()
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best


def runners(model) -> dict:
    """Traced steps: forward, forward+backward (cross-entropy to the weights), input gradient (top logit)."""
    @tf.function
    def forward(x, y):
        return tf.reduce_sum(model(x, training=False))

    @tf.function
    def backward(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.cast(logits, tf.float32)))
        grads = tape.gradient(loss, model.trainable_variables)
        return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])

    @tf.function
    def input_gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.cast(model(x, training=False), tf.float32)
            top = tf.reduce_max(logits, axis=-1)
        return tf.reduce_sum(tape.gradient(top, x))

    return {"forward": forward, "forward+backward": backward, "input gradient": input_gradient}
