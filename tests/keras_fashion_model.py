"""A user's own model on real data: a small CNN trained on real Fashion-MNIST, saved as `.keras`,
read back by `models.load_keras_model` and scored on the real test images fed the programs' way
(RGB 0..255, the gray picture in three channels).

    python -m tests.keras_fashion_model          # prints the accuracies (docs/models.md)

The model is trained on images / 255 (one channel), as the Keras tutorials do, so it needs
`preprocessing="unit"`: the loader turns the RGB input to gray and scales it. The same file read
with a wrong preprocessing ('tf': -1..1 into a network trained on 0..1), and the same
architecture saved untrained, show what a mistake looks like.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRAIN_IMAGES = 6000
TEST_IMAGES = 2000
EPOCHS = 2
SEED = 0


@dataclass(frozen=True)
class Scores:
    trained_unit: float       # the trained model read with the right preprocessing
    trained_wrong: float      # ... with a wrong one (tf: -1..1)
    untrained_unit: float     # the same architecture, saved untrained
    keras_accuracy: float     # the trained model in memory, on images / 255 (what Keras itself says)
    loaded_notes: tuple[str, ...]


def fashion_cnn(seed: int = SEED):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="fashion_cnn")


def as_rgb_0_255(unit_gray: np.ndarray) -> np.ndarray:
    """(N, 28, 28, 1) in 0..1 -> (N, 28, 28, 3) in 0..255: what the programs' image loader gives."""
    return np.repeat(unit_gray * 255.0, 3, axis=-1).astype(np.float32)


def accuracy(loaded, images_rgb: np.ndarray, labels: np.ndarray) -> float:
    logits = loaded.model.predict(loaded.spec.preprocess(images_rgb), batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def run(data, folder: Path, names_file: Path | None = None) -> Scores:
    """Train, save, load and score (`data`: utilities.digits.ImageSet of the real Fashion-MNIST)."""
    import models

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    train = rng.choice(len(data.x_train), TRAIN_IMAGES, replace=False)
    test = rng.choice(len(data.x_test), TEST_IMAGES, replace=False)
    x_train, y_train = data.x_train[train], data.y_train[train]
    x_test, y_test = data.x_test[test], data.y_test[test]
    untrained = fashion_cnn(SEED + 1)
    untrained.save(folder / "untrained.keras")
    model = fashion_cnn(SEED)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, verbose=0)
    keras_accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    model.save(folder / "fashion.keras")
    if names_file is None:
        names_file = folder / "classes.txt"
        names_file.write_text("\n".join(data.class_names) + "\n", encoding="utf-8")
    rgb = as_rgb_0_255(x_test)
    loaded = models.load_keras_model(folder / "fashion.keras", preprocessing="unit", class_names=names_file)
    wrong = models.load_keras_model(folder / "fashion.keras", preprocessing="tf", class_names=names_file)
    blank = models.load_keras_model(folder / "untrained.keras", preprocessing="unit", class_names=names_file)
    return Scores(accuracy(loaded, rgb, y_test), accuracy(wrong, rgb, y_test), accuracy(blank, rgb, y_test),
                  keras_accuracy, loaded.notes)


def main() -> int:
    import tempfile

    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from utilities.digits import fashion_mnist

    data = fashion_mnist.load_fashion_mnist(progress=False, log=None)
    with tempfile.TemporaryDirectory() as folder:
        scores = run(data, Path(folder))
    print(f"real Fashion-MNIST ({data.source}); {TRAIN_IMAGES} training images, {EPOCHS} epochs, "
          f"{TEST_IMAGES} test images, seed {SEED}")
    for note in scores.loaded_notes:
        print(f"  {note}")
    print(f"Keras, in memory, images / 255:            {scores.keras_accuracy:.3f}")
    print(f"read from .keras, preprocessing unit:      {scores.trained_unit:.3f}")
    print(f"read from .keras, preprocessing tf:        {scores.trained_wrong:.3f}  (wrong: -1..1 in)")
    print(f"untrained, same architecture, unit:        {scores.untrained_unit:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
