"""Assignment 3a's fine-tuning: the experiment, the compiled training loop, the frozen-feature
cache, checkpoints, tf.distribute, TensorBoard logging and the end-of-run report."""
