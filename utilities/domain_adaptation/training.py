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

STEP_OUTPUTS = ("label_loss", "domain_loss", "source_class_loss", "source_accuracy", "source_domain_loss",
                "source_domain_accuracy", "target_class_loss", "target_accuracy", "target_domain_loss",
                "target_domain_accuracy")
"""What one step returns, in order: the two trained losses (label loss with any pseudo-label term, domain
loss over both halves), then per domain the class loss/accuracy and the domain loss/accuracy of the
half-batch. The target's class numbers use its true labels, for the report only: they never enter a
gradient."""


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

    def _step(self, xs, ys, xt, yt, wt, yt_true):
        net = self.net
        lam = self.lambda_schedule(self.progress())
        net.grl.lambda_.assign(lam)
        n_source = tf.shape(xs)[0]
        domains = tf.concat([tf.zeros([n_source, 1]), tf.ones([tf.shape(xt)[0], 1])], axis=0)
        with tf.GradientTape() as tape:
            features = net.feature_extractor(tf.concat([xs, xt], axis=0), training=True)
            logits = net.label_predictor(features, training=True)
            source_logits, target_logits = logits[:n_source], logits[n_source:]
            source_class = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ys, logits=source_logits)
            label_loss = tf.reduce_mean(source_class)
            if self.use_pseudo_labels:
                pseudo = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yt, logits=target_logits)
                label_loss += tf.reduce_sum(wt * pseudo) / tf.maximum(tf.reduce_sum(wt), 1.0)
            domain_logits = net.domain_classifier(features, training=True)
            domain_each = tf.nn.sigmoid_cross_entropy_with_logits(labels=domains, logits=domain_logits)[:, 0]
            domain_loss = tf.reduce_mean(domain_each)
            loss = label_loss + domain_loss
        gradients = tape.gradient(loss, self.variables)
        self.optimizer.apply(gradients, self.variables)
        target_class = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yt_true, logits=target_logits)
        domain_right = tf.cast(tf.equal(tf.cast(domain_logits[:, 0] > 0, tf.float32), domains[:, 0]), tf.float32)

        def accuracy(labels, class_logits):
            return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(class_logits, -1, output_type=labels.dtype), labels),
                                          tf.float32))

        return (label_loss, domain_loss,
                tf.reduce_mean(source_class), accuracy(ys, source_logits),
                tf.reduce_mean(domain_each[:n_source]), tf.reduce_mean(domain_right[:n_source]),
                tf.reduce_mean(target_class), accuracy(yt_true, target_logits),
                tf.reduce_mean(domain_each[n_source:]), tf.reduce_mean(domain_right[n_source:]))

    def __call__(self, xs, ys, xt, yt=None, wt=None, yt_true=None) -> tuple[tf.Tensor, ...]:
        """One update on a source half-batch (xs, ys) and a target half-batch xt (pseudo-labels yt, weights wt;
        true labels yt_true, for the report only). Returns the STEP_OUTPUTS."""
        zeros = np.zeros(len(xt), np.int64)
        yt = zeros if yt is None else yt
        wt = np.zeros(len(xt), np.float32) if wt is None else wt
        yt_true = zeros if yt_true is None else yt_true
        return self.step(tf.convert_to_tensor(xs), tf.convert_to_tensor(ys), tf.convert_to_tensor(xt),
                         tf.convert_to_tensor(yt), tf.convert_to_tensor(wt),
                         tf.convert_to_tensor(np.asarray(yt_true, np.asarray(ys).dtype)))


class Evaluator:
    """Compiled forward passes: class probabilities, features, domain logits of prepared inputs."""

    def __init__(self, net: DANN):
        self.net = net

        shape = tuple(net.feature_extractor.input.shape[1:])

        @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
        def forward(x):
            features = net.feature_extractor(x, training=False)
            logits = net.label_predictor(features, training=False)
            return (tf.nn.softmax(logits), features, net.domain_classifier(features, training=False)[:, 0],
                    tf.nn.log_softmax(logits))

        self._forward = forward

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, features, domain logits, log-probabilities) for the prepared images `x`, in batches."""
        parts = [self._forward(tf.convert_to_tensor(x[i:i + EVAL_BATCH])) for i in range(0, len(x), EVAL_BATCH)]
        return tuple(np.concatenate([p[k].numpy() for p in parts]) for k in range(4))


@dataclass(frozen=True)
class DomainScores:
    """The handout's four numbers for one domain's images: class loss/accuracy, domain loss/accuracy."""

    class_loss: float
    class_accuracy: float
    domain_loss: float
    domain_accuracy: float


@dataclass(frozen=True)
class Scores:
    """Test accuracies of one evaluation, and every number of the handout's report per domain."""

    source_accuracy: float
    target_accuracy: float
    domain_accuracy: float  # the domain classifier on source test + target test (0.5 = indistinguishable)
    source_class_loss: float = float("nan")
    source_domain_loss: float = float("nan")
    source_domain_accuracy: float = float("nan")
    target_class_loss: float = float("nan")
    target_domain_loss: float = float("nan")
    target_domain_accuracy: float = float("nan")

    @property
    def source(self) -> DomainScores:
        return DomainScores(self.source_class_loss, self.source_accuracy, self.source_domain_loss,
                            self.source_domain_accuracy)

    @property
    def target(self) -> DomainScores:
        return DomainScores(self.target_class_loss, self.target_accuracy, self.target_domain_loss,
                            self.target_domain_accuracy)


def domain_scores(evaluator: Evaluator, x: np.ndarray, y: np.ndarray, is_target: bool) -> DomainScores:
    """Class cross-entropy and accuracy on (x, y); logistic domain loss and accuracy against the domain label."""
    probabilities, _, domain_logits, log_probabilities = evaluator.run(x)
    y = np.asarray(y, np.int64)
    class_loss = float(-np.mean(log_probabilities[np.arange(len(y)), y]))
    signed = domain_logits.astype(np.float64) * (-1.0 if is_target else 1.0)  # > 0: the wrong domain
    domain_loss = float(np.mean(np.logaddexp(0.0, signed)))  # = sigmoid cross-entropy with the domain label
    domain_accuracy = float(np.mean(domain_logits > 0 if is_target else domain_logits <= 0))
    return DomainScores(class_loss, float(np.mean(probabilities.argmax(-1) == y)), domain_loss, domain_accuracy)


def score(evaluator: Evaluator, xs: np.ndarray, ys: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> Scores:
    """Per-domain class and domain numbers on both test sets; domain accuracy over their union (each domain
    weighted equally)."""
    s = domain_scores(evaluator, xs, ys, is_target=False)
    t = domain_scores(evaluator, xt, yt, is_target=True)
    return Scores(s.class_accuracy, t.class_accuracy, 0.5 * (s.domain_accuracy + t.domain_accuracy),
                  s.class_loss, s.domain_loss, s.domain_accuracy, t.class_loss, t.domain_loss, t.domain_accuracy)


def report_line(domain: str, scores: DomainScores) -> str:
    """The handout's line: `[SOURCE] Class loss/acc: 1.49108 / 97.28%, Domain loss/acc: 0.43089 / 100.0%`."""
    return (f"[{domain.upper()}] Class loss/acc: {_loss(scores.class_loss)} / {_percent(scores.class_accuracy)}, "
            f"Domain loss/acc: {_loss(scores.domain_loss)} / {_percent(scores.domain_accuracy)}")


def _loss(value: float) -> str:
    return f"{round(value, 5)}" if np.isfinite(value) else str(value)


def _percent(fraction: float) -> str:
    return f"{round(100 * fraction, 2)}%" if np.isfinite(fraction) else str(fraction)
