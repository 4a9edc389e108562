"""gan.py's training step against the TensorFlow DCGAN tutorial's `train_step`, same networks, same batch.

    .venv/bin/python bench/gan_bench.py [--batch-size 128] [--width 32] [--steps 3] [--rounds 7]
                                        [--epoch-images 1280] [--epoch-rounds 3] [--xla] [--eager]

The peer recipe is the tutorial's step (tensorflow.org "Deep Convolutional Generative Adversarial
Network"), written here from its description: one `tf.function`, noise from `tf.random.normal`,
two `GradientTape`s over one forward pass (G on the noise, D on the real and the fake batch),
`BinaryCrossentropy(from_logits=True)` losses (D: real vs ones + fake vs zeros; G: fake vs ones),
one Adam per network. It returns nothing (the tutorial's step returns nothing). It runs on OUR
networks (models/gan.py at --width) with our Adam settings (2e-4, beta_1 0.5), so only the step
differs; for the cDCGAN the same step with the one-hot labels as the networks' second input.

  tutorial       the baseline: the tutorial's step
  ours           `GanTrainer.train_step`, the step gan.py runs (seeded tf.random.Generator noise,
                 softplus losses, D(x) and D(G(z)) returned for the report)
  ours, XLA      (--xla) the same step with jit_compile=True
  ours, eager    (--eager) `GanTrainer.step` run op by op (the bench's former baseline)

Step table: one batch of real digits (mnist5k: 4,000 real MNIST training digits) repeated, no
input pipeline in the way. Epoch table: --epoch-images of those digits, the tutorial's loop
(`from_tensor_slices(x).shuffle(n).batch(b)`, `for batch in dataset: train_step(batch)`) against
gan.py's (`epoch_batches`, the step's outputs kept, the progress bar's two losses read every 10
steps, every output read at the end of the epoch), per-epoch judge and figures left out on both
sides. Rounds are interleaved (bench/_interleave.py): each variant runs once per round, the order
reversed every other round; ratios are per round against the tutorial, their median printed.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=128, help="gan.py's default (default %(default)s)")
    p.add_argument("--width", type=int, default=32, help="gan.py's default (default %(default)s)")
    p.add_argument("--models", default="dcgan,cdcgan")
    p.add_argument("--steps", type=int, default=3, help="steps per variant per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the step table (default %(default)s)")
    p.add_argument("--epoch-images", type=int, default=1280, help="digits per epoch in the epoch table; 0: no "
                   "epoch table (default %(default)s)")
    p.add_argument("--epoch-rounds", type=int, default=3, help="interleaved rounds of the epoch table")
    p.add_argument("--xla", action="store_true", help="also time the step under XLA")
    p.add_argument("--eager", action="store_true", help="also time the step run eagerly")
    return p.parse_args(argv)


class TutorialStep:
    """The TensorFlow DCGAN tutorial's train_step over given networks (conditional: one-hot labels as 2nd input)."""

    def __init__(self, generator, discriminator, latent_dim: int, batch_size: int, num_classes: int | None,
                 lr: float = 2e-4, beta_1: float = 0.5):
        import keras
        import tensorflow as tf

        self.generator, self.discriminator = generator, discriminator
        cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
        generator_optimizer = keras.optimizers.Adam(lr, beta_1=beta_1)
        discriminator_optimizer = keras.optimizers.Adam(lr, beta_1=beta_1)
        self.optimizer = generator_optimizer

        def discriminator_loss(real_output, fake_output):
            real_loss = cross_entropy(tf.ones_like(real_output), real_output)
            fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
            return real_loss + fake_loss

        def generator_loss(fake_output):
            return cross_entropy(tf.ones_like(fake_output), fake_output)

        @tf.function
        def train_step(images, labels):
            noise = tf.random.normal([batch_size, latent_dim])
            if num_classes:
                fake_labels = tf.one_hot(tf.random.uniform([batch_size], 0, num_classes, tf.int32), num_classes)
                g_in, real_in = [noise, fake_labels], [images, tf.one_hot(labels, num_classes)]
            else:
                g_in, real_in = noise, images
            with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
                generated_images = generator(g_in, training=True)
                real_output = discriminator(real_in, training=True)
                fake_output = discriminator([generated_images, fake_labels] if num_classes else generated_images,
                                            training=True)
                gen_loss = generator_loss(fake_output)
                disc_loss = discriminator_loss(real_output, fake_output)
            gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
            gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
            generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables,
                                                    strict=True))
            discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator,
                                                        discriminator.trainable_variables, strict=True))

        self.train_step = train_step

    def __call__(self, images, labels):
        self.train_step(images, labels)

    def wait(self) -> None:
        self.optimizer.iterations.numpy()   # the step returns nothing: read a variable it wrote


def main(argv=None) -> None:
    args = parse_args(argv)
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    import tensorflow as tf

    from utilities.gan.data import load_gan_images

    data = load_gan_images("mnist5k")
    device = tf.config.list_physical_devices()[-1].name
    print(f"GAN step against the TensorFlow DCGAN tutorial's train_step: batch {args.batch_size}, width {args.width}, "
          f"{device}, {os.cpu_count()} CPUs seen; real digits (mnist5k)")
    for model in args.models.split(","):
        bench_model(model, data, args)


def bench_model(model: str, data, args: argparse.Namespace) -> None:
    import keras
    import tensorflow as tf
    from _interleave import interleaved, table

    from models.gan import build_discriminator, build_generator
    from utilities.gan import GanConfig
    from utilities.gan.data import epoch_batches
    from utilities.gan.trainer import GanTrainer

    batch = args.batch_size
    real, labels = tf.constant(data.x_train[:batch]), tf.constant(data.y_train[:batch])
    config = GanConfig(model=model, width=args.width, batch_size=batch)
    trainer = GanTrainer(config, data.num_classes)
    classes = data.num_classes if config.conditional else None
    keras.utils.set_random_seed(config.seed)
    tutorial = TutorialStep(build_generator(config.latent_dim, args.width, classes),
                            build_discriminator(args.width, classes), config.latent_dim, batch, classes)
    xla = tf.function(trainer.step, jit_compile=True)

    def steps(step, wait, n=args.steps):
        def run():
            for _ in range(n):
                out = step(real, labels)
            wait(out)
            return n * batch
        return run

    variants = {"tutorial": steps(tutorial, lambda _: tutorial.wait()),
                "ours": steps(trainer.train_step, lambda out: out["d_loss"].numpy())}
    if args.xla:
        variants["ours, XLA"] = steps(xla, lambda out: out["d_loss"].numpy())
    if args.eager:
        variants["ours, eager"] = steps(trainer.step, lambda out: out["d_loss"].numpy(), 1)
    rates = interleaved(variants, args.rounds, warmup=2)
    print(f"\n{model}: one step, {args.steps} steps per variant per round")
    print("\n".join(table(rates, "tutorial", "images")))
    if not args.epoch_images:
        return

    n = args.epoch_images
    x, y = data.x_train[:n], data.y_train[:n]
    counter = {"epoch": 0}

    def tutorial_epoch():
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n).batch(batch, drop_remainder=True)
        for image_batch, label_batch in dataset:
            tutorial(image_batch, label_batch)
        tutorial.wait()
        return n // batch * batch

    def our_epoch():   # utilities/gan/experiment.py's loop, without the per-epoch judge and figures
        counter["epoch"] += 1
        outputs, shown = [], []
        for step, (image_batch, label_batch) in enumerate(epoch_batches(x, y, batch, 0, counter["epoch"]), 1):
            outputs.append(trainer.train_step(image_batch, label_batch))
            if step % 10 == 0:   # the progress bar's postfix
                shown.append(f"{float(outputs[-1]['d_loss']):.3f} {float(outputs[-1]['g_loss']):.3f}")
        shown.append([{k: float(v) for k, v in out.items()} for out in outputs])
        return len(outputs) * batch

    rates = interleaved({"tutorial loop": tutorial_epoch, "gan.py loop": our_epoch}, args.epoch_rounds)
    print(f"\n{model}: one epoch of {n} digits ({n // batch} steps)")
    print("\n".join(table(rates, "tutorial loop", "images")))


if __name__ == "__main__":
    main()
