"""The classifiers trained on cached features: the handout's linear SVM and its two alternatives.

- `linear-svm`: `sklearn.svm.LinearSVC(C)`, one-vs-rest, squared hinge loss (the handout).
- `logreg`: `sklearn.linear_model.LogisticRegression(C)`, multinomial, lbfgs.
- `finetune-head`: the handout's last step, "replace the SVM by a new dense layer": a Keras
  `Dense(num_classes)` on the features, softmax cross-entropy, Adam with a cosine-decayed step, in
  one traced training loop.
  With an L2 penalty of 1/(2 C n) on its kernel it minimises the same objective as `logreg`
  (mean loss + ||W||^2 / (2 C n)), so C means the same thing for all three; what differs is
  the loss (hinge vs softmax) and the optimiser (liblinear, lbfgs, mini-batch Adam).

`cross_validate` scores several C by stratified k-fold on the training features (seeded folds),
as `GridSearchCV` would, but returns every C's score for the sweep table; a reduction is fitted
once per fold, on the fold's training part.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

CLASSIFIERS = ("linear-svm", "logreg", "finetune-head")
GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


class DenseHead(ClassifierMixin, BaseEstimator):
    """A new Dense layer trained on fixed features (scikit-learn estimator API).

    Training is one traced function: every epoch's seeded shuffle and every mini-batch step
    (GradientTape, Adam) run inside TensorFlow, so the thousands of small steps a linear layer
    needs cost no Python round trip each (Keras' `fit` spends most of its time there on so small
    a model).
    """

    def __init__(self, C: float = 1.0, epochs: int = 100, learning_rate: float = 0.03, batch_size: int = 64,
                 seed: int = 0):
        self.C = C
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.seed = seed

    def fit(self, X, y):
        import keras
        import tensorflow as tf

        X = np.asarray(X, np.float32)
        self.classes_, codes = np.unique(y, return_inverse=True)
        keras.utils.set_random_seed(self.seed)
        l2 = 1.0 / (2.0 * self.C * len(X))
        self.model_ = keras.Sequential([
            keras.Input((X.shape[1],)),
            keras.layers.Dense(len(self.classes_), kernel_regularizer=keras.regularizers.L2(l2), name="head",
                               dtype="float32"),
        ])
        batch = min(self.batch_size, len(X))
        steps = self.epochs * -(-len(X) // batch)
        # Cosine decay to zero: the last steps settle on the optimum instead of hovering around it.
        optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(self.learning_rate, steps))
        variables = self.model_.trainable_variables
        optimizer.build(variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        features, labels = tf.constant(X), tf.constant(codes.astype(np.int32))
        n, epochs, seed = len(X), self.epochs, self.seed

        @tf.function
        def train():
            for epoch in tf.range(epochs):
                order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([seed, epoch])))
                for start in tf.range(0, n, batch):
                    index = order[start:start + batch]
                    with tf.GradientTape() as tape:
                        logits = self.model_(tf.gather(features, index), training=True)
                        loss = loss_fn(tf.gather(labels, index), logits) + tf.add_n(self.model_.losses)
                    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))

        train()
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(self.model_(np.asarray(X, np.float32), training=False))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def make_classifier(kind: str, C: float = 1.0, *, seed: int = 0, epochs: int = 100, learning_rate: float = 0.03,
                    batch_size: int = 64):
    """An unfitted classifier of `kind` (one of CLASSIFIERS)."""
    if not C > 0:
        raise ValueError(f"--C values must be positive, got {C}")
    if kind == "linear-svm":
        return LinearSVC(C=C, random_state=seed)
    if kind == "logreg":
        return LogisticRegression(C=C, max_iter=2000)
    if kind == "finetune-head":
        return DenseHead(C=C, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, seed=seed)
    raise ValueError(f"--classifier must be one of {', '.join(CLASSIFIERS)}, got {kind!r}")


def fit(classifier, X: np.ndarray, y: np.ndarray, notes: list[str] | None = None):
    """Fit, turning convergence warnings into one note instead of a wall of text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(X, y)
    if notes is not None and any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append(f"{type(classifier).__name__}(C={classifier.C:g}) stopped at its iteration limit "
                     "before converging")
    return classifier


def check_folds(folds: int, y: np.ndarray) -> None:
    smallest = int(np.unique(y, return_counts=True)[1].min()) if len(y) else 0
    if folds < 2:
        raise ValueError(f"--cv-folds must be at least 2, got {folds}")
    if folds > smallest:
        raise ValueError(f"--cv-folds {folds} is more than the smallest class's {smallest} training images")


def smallest_fold(folds: int, y: np.ndarray, seed: int = 0) -> int:
    """Rows in the smallest training part of `cross_validate`'s folds (what a reduction is fitted on there)."""
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return min(len(train) for train, _ in splitter.split(np.zeros((len(y), 1)), y))


def cross_validate(kind: str, Cs, X: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0,
                   transform=None, **options) -> dict[float, float]:
    """Mean stratified k-fold accuracy on (X, y) for each C (the same seeded folds for every C).

    `transform(train_part, held_out_part) -> (train_part, held_out_part)` (a reduction) is fitted
    on each fold's training part only, once per fold, and shared by every C.
    """
    check_folds(folds, y)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    parts = []
    for train, held_out in splitter.split(X, y):
        a, b = (X[train], X[held_out]) if transform is None else transform(X[train], X[held_out])
        parts.append((a, y[train], b, y[held_out]))
    scores = {}
    for C in Cs:
        accuracies = []
        for a, y_a, b, y_b in parts:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = make_classifier(kind, C, seed=seed, **options).fit(a, y_a)
            accuracies.append(float(np.mean(model.predict(b) == y_b)))
        scores[C] = float(np.mean(accuracies))
    return scores
