"""domain_adaptation.py's DANN step against a plain compiled two-tape DANN loop, same networks, same batch.

    .venv/bin/python bench/domain_adaptation_bench.py [--batch-size 64] [--steps 10] [--rounds 7] [--eager]

The peer recipe, written here as a user would from the paper (Ganin & Lempitsky 2015) without a
gradient reversal layer: one `tf.function` per step with two `GradientTape`s over one forward pass
(features of the source and target half-batches, concatenated); the label tape gives the class
loss's gradient to the feature extractor and label predictor, the domain tape the domain loss's
gradient to the feature extractor and domain classifier; the feature extractor's gradient is
label - lambda * domain (the reversal done by hand); one SGD-with-momentum update of everything.
lambda (2/(1+exp(-10p)) - 1) is computed in Python each step and passed in as a tensor; the
learning rate is the same annealed schedule as ours. The step returns the two losses, which the
loop reads (to print them), as a training loop does.

  two-tape loop  the baseline: the recipe above, on networks of the same sizes (models/dann.py's
                 feature extractor and label predictor; a domain classifier of the same layers
                 without the reversal layer)
  ours           `utilities.domain_adaptation.training.DannStep`, called as domain_adaptation.py
                 calls it: NumPy half-batches in, the ten STEP_OUTPUTS read back as floats
  ours, eager    (--eager) the same step's Python body run op by op (the bench's former baseline)

Data: --batch-size real MNIST digits from mnist5k as the source half-batch (grey on three
channels) and the same digits with their colours inverted as the target half (a stand-in for
MNIST-M: only the shapes matter to the speed), repeated every step. Images/s count source +
target images. Rounds are interleaved (bench/_interleave.py), ratios per round against the
two-tape loop, their median printed.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64, help="source and target images per step, each "
                   "(domain_adaptation.py's default, %(default)s)")
    p.add_argument("--filters", default="32,48", help="conv1,conv2 widths (default: the paper's 32,48)")
    p.add_argument("--steps", type=int, default=10, help="steps per variant per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default %(default)s)")
    p.add_argument("--eager", action="store_true", help="also time our step run eagerly")
    return p.parse_args(argv)


class TwoTapeLoop:
    """The plain DANN step: two tapes, the reversal by hand, lambda from Python."""

    def __init__(self, filters, total_steps: int, hidden: int = 100):
        import keras
        import tensorflow as tf

        from models.dann import build_feature_extractor, build_label_predictor
        from utilities.domain_adaptation.schedules import AnnealedLearningRate

        self.feature_extractor = build_feature_extractor(filters=filters)
        features = int(self.feature_extractor.output.shape[-1])
        self.label_predictor = build_label_predictor(features, hidden=hidden)
        self.domain_classifier = keras.Sequential([keras.Input((features,)),
                                                   keras.layers.Dense(hidden, activation="relu"),
                                                   keras.layers.Dense(1)])
        self.optimizer = keras.optimizers.SGD(AnnealedLearningRate(0.01, total_steps), momentum=0.9)
        self.total_steps, self.done = total_steps, 0
        f_vars = self.feature_extractor.trainable_variables
        c_vars = self.label_predictor.trainable_variables
        d_vars = self.domain_classifier.trainable_variables

        @tf.function
        def train_step(xs, ys, xt, lam):
            n = tf.shape(xs)[0]
            domains = tf.concat([tf.zeros([n, 1]), tf.ones([tf.shape(xt)[0], 1])], axis=0)
            with tf.GradientTape() as label_tape, tf.GradientTape() as domain_tape:
                features = self.feature_extractor(tf.concat([xs, xt], axis=0), training=True)
                class_logits = self.label_predictor(features[:n], training=True)
                class_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(ys, class_logits))
                domain_logits = self.domain_classifier(features, training=True)
                domain_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(domains, domain_logits))
            label_grads = label_tape.gradient(class_loss, f_vars + c_vars)
            domain_grads = domain_tape.gradient(domain_loss, f_vars + d_vars)
            k = len(f_vars)
            f_grads = [g_c - lam * g_d for g_c, g_d in zip(label_grads[:k], domain_grads[:k], strict=True)]
            self.optimizer.apply_gradients(zip(f_grads + label_grads[k:] + domain_grads[k:],
                                               f_vars + c_vars + d_vars, strict=True))
            return class_loss, domain_loss

        self.train_step = train_step

    def __call__(self, xs, ys, xt):
        import tensorflow as tf

        p = min(self.done / self.total_steps, 1.0)
        lam = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
        self.done += 1
        return self.train_step(xs, ys, xt, tf.constant(lam, tf.float32))


def main(argv=None) -> None:
    args = parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import numpy as np
    import tensorflow as tf
    from _interleave import interleaved, table

    from models.dann import build_dann
    from utilities.digits import load_image_set
    from utilities.domain_adaptation.schedules import AnnealedLearningRate, parse_lambda
    from utilities.domain_adaptation.training import DannStep

    filters = tuple(int(v) for v in args.filters.split(","))
    digits = load_image_set("mnist5k")
    grey = np.repeat(np.asarray(digits.x_train[:args.batch_size], np.float32), 3, axis=-1)
    xs, xt = grey - 0.5, (1.0 - grey) - 0.5
    ys = digits.y_train[:args.batch_size].astype(np.int64)
    total = 10_000

    keras.utils.set_random_seed(0)
    peer = TwoTapeLoop(filters, total)
    ours = {}
    for name, compiled in (("ours", True), ("ours, eager", False)):
        if name == "ours, eager" and not args.eager:
            continue
        keras.utils.set_random_seed(0)
        net = build_dann(filters=filters)
        optimizer = keras.optimizers.SGD(AnnealedLearningRate(0.01, total), momentum=0.9)
        ours[name] = DannStep(net, optimizer, parse_lambda("schedule"), total, compiled=compiled)

    def run_peer():
        for _ in range(args.steps):
            losses = [float(v) for v in peer(tf.constant(xs), tf.constant(ys), tf.constant(xt))]
        assert all(math.isfinite(v) for v in losses)
        return 2 * args.batch_size * args.steps

    def run_ours(step):
        def run():
            for _ in range(args.steps):
                outputs = [float(v) for v in step(xs, ys, xt)]
            assert all(math.isfinite(v) for v in outputs)
            return 2 * args.batch_size * args.steps
        return run

    variants = {"two-tape loop": run_peer, **{name: run_ours(step) for name, step in ours.items()}}
    rates = interleaved(variants, args.rounds, warmup=1)
    print(f"DANN step against a plain compiled two-tape loop: conv widths {filters}, {args.batch_size}+"
          f"{args.batch_size} images per step, {args.steps} steps per variant per round, "
          f"{tf.config.list_physical_devices()[-1].name}, {os.cpu_count()} CPUs seen")
    print("\n".join(table(rates, "two-tape loop", "images")))


if __name__ == "__main__":
    main()
