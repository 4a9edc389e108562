"""The bfloat16 feature cache against float32 on the real SqueezeNet and real Fashion-MNIST images.

    .venv/bin/python bench/cache_precision_check.py [--images 32]

Prints the smallest cosine, over the first --images Fashion-MNIST test images in both flip states,
between the cache's features (fire8_concat, 3a's split for SqueezeNet) computed in bfloat16 and in
float32: `--cache-precision auto` keeps bfloat16 when it is at least 0.999. Needs the real
SqueezeNet weights and Fashion-MNIST (see docs/results.md for where each comes from).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    args = parser.parse_args()
    from utilities.common.quiet_tf import import_tensorflow_quietly
    import_tensorflow_quietly()
    import numpy as np
    import tensorflow as tf

    import models
    from tests import real_datasets
    from utilities.finetune.cache_precision import CHECK_IMAGES, MIN_COSINE, bfloat16_copy, min_cosine
    from utilities.finetune.feature_cache import split_for_cache

    model = models.build_model("squeezenet", "imagenet", remove_fc=1, num_classes=10)
    models.set_trainable(model, models.default_train_layers("squeezenet", 1))
    split = split_for_cache(model)
    spec = models.get_spec("squeezenet", "imagenet")
    grey = real_datasets.real_fashion_mnist().x_test[:args.images]
    grey = grey.reshape(len(grey), grey.shape[1], grey.shape[2], 1).astype(np.float32)
    rgb = tf.image.resize(tf.repeat(grey * (255.0 if grey.max() <= 1 else 1.0), 3, axis=-1),
                          (spec.input_size, spec.input_size))
    x = spec.preprocess(rgb)
    fast = bfloat16_copy(split.trunk)
    worst = min(min_cosine(split.trunk, fast, x[i:i + CHECK_IMAGES]) for i in range(0, len(grey), CHECK_IMAGES))
    print(f"squeezenet {split.boundary}: min cosine(bfloat16, float32) over {len(grey)} real Fashion-MNIST test "
          f"images x 2 flips = {worst:.5f} ({'kept' if worst >= MIN_COSINE else 'refused'}: threshold {MIN_COSINE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
