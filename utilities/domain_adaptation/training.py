"""The compiled DANN training step and the evaluation passes.

One `tf.function` per run does a whole step: features of the source and target half-batches
in one pass, the label loss on the source (plus, when pseudo-labelling, on the confidently
labelled target images), the domain loss on both halves through the gradient reversal layer,
one SGD update of all three parts. The GRL factor lambda is set from the optimizer's step
counter inside the step, so schedule and learning-rate annealing follow the same progress p.

Source-only is the same step with lambda fixed at 0: the reversal layer then passes no
gradient to the features, which are trained by the label loss alone, while the domain
classifier still learns to tell the domains apart, a probe of how separable they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from models.dann import DANN
from utilities.domain_adaptation.schedules import LambdaSchedule

EVAL_BATCH = 1000


@dataclass
class StepResult:
    label_loss: float
    domain_loss: float
    source_accuracy: float
    domain_accuracy: float


class DannStep:
    """Owns the compiled step of one run (`net`, `optimizer`, lambda schedule over `total_steps`)."""

    def __init__(self, net: DANN, optimizer: keras.optimizers.Optimizer, lambda_schedule: LambdaSchedule,
                 total_steps: int, *, use_pseudo_labels: bool = False, compiled: bool = True):
        self.net = net
        self.optimizer = optimizer
        self.lambda_schedule = lambda_schedule
        self.total_steps = max(int(total_steps), 1)
        self.use_pseudo_labels = use_pseudo_labels
        self.variables = net.trainable_variables
        self.optimizer.build(self.variables)
        self.step = tf.function(self._step, jit_compile=False) if compiled else self._step

    def progress(self) -> tf.Tensor:
        return tf.minimum(tf.cast(self.optimizer.iterations, tf.float32) / self.total_steps, 1.0)

    def _step(self, xs, ys, xt, yt, wt):
        net = self.net
        lam = self.lambda_schedule(self.progress())
        net.grl.lambda_.assign(lam)
        n_source = tf.shape(xs)[0]
        domains = tf.concat([tf.zeros([n_source, 1]), tf.ones([tf.shape(xt)[0], 1])], axis=0)
        with tf.GradientTape() as tape:
            features = net.feature_extractor(tf.concat([xs, xt], axis=0), training=True)
            source_logits = net.label_predictor(features[:n_source], training=True)
            label_loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ys, logits=source_logits))
            if self.use_pseudo_labels:
                target_logits = net.label_predictor(features[n_source:], training=True)
                pseudo = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yt, logits=target_logits)
                label_loss += tf.reduce_sum(wt * pseudo) / tf.maximum(tf.reduce_sum(wt), 1.0)
            domain_logits = net.domain_classifier(features, training=True)
            domain_loss = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=domains, logits=domain_logits))
            loss = label_loss + domain_loss
        gradients = tape.gradient(loss, self.variables)
        self.optimizer.apply(gradients, self.variables)
        source_accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(source_logits, -1, output_type=ys.dtype), ys),
                                                 tf.float32))
        domain_accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.cast(domain_logits > 0, tf.float32), domains),
                                                 tf.float32))
        return label_loss, domain_loss, source_accuracy, domain_accuracy

    def __call__(self, xs, ys, xt, yt=None, wt=None) -> tuple[tf.Tensor, ...]:
        """One update on a source half-batch (xs, ys) and a target half-batch xt (pseudo-labels yt, weights wt)."""
        if yt is None:
            yt = np.zeros(len(xt), np.int64)
        if wt is None:
            wt = np.zeros(len(xt), np.float32)
        return self.step(tf.convert_to_tensor(xs), tf.convert_to_tensor(ys), tf.convert_to_tensor(xt),
                         tf.convert_to_tensor(yt), tf.convert_to_tensor(wt))


class Evaluator:
    """Compiled forward passes: class probabilities, features, domain logits of prepared inputs."""

    def __init__(self, net: DANN):
        self.net = net

        shape = tuple(net.feature_extractor.input.shape[1:])

        @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
        def forward(x):
            features = net.feature_extractor(x, training=False)
            return (tf.nn.softmax(net.label_predictor(features, training=False)), features,
                    net.domain_classifier(features, training=False)[:, 0])

        self._forward = forward

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, features, domain logits) for the prepared images `x`, in batches."""
        parts = [self._forward(tf.convert_to_tensor(x[i:i + EVAL_BATCH])) for i in range(0, len(x), EVAL_BATCH)]
        return tuple(np.concatenate([p[k].numpy() for p in parts]) for k in range(3))


@dataclass(frozen=True)
class Scores:
    """Test accuracies of one evaluation."""

    source_accuracy: float
    target_accuracy: float
    domain_accuracy: float  # the domain classifier on source test + target test (0.5 = indistinguishable)


def score(evaluator: Evaluator, xs: np.ndarray, ys: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> Scores:
    """Label accuracy on both test sets and domain accuracy over their union (each domain weighted equally)."""
    ps, _, ds = evaluator.run(xs)
    pt, _, dt = evaluator.run(xt)
    domain = 0.5 * (float(np.mean(ds <= 0)) + float(np.mean(dt > 0)))
    return Scores(float(np.mean(ps.argmax(-1) == ys)), float(np.mean(pt.argmax(-1) == yt)), domain)
