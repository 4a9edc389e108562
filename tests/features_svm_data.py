"""Small labelled image sets on disk for the features_svm tests and bench (offline, seeded).

- `write_digits_lists`: scikit-learn's bundled 8x8 digits, upsampled and saved as 8-bit grayscale
  PNG/JPEG files (grayscale on purpose: 15 Scene is grayscale), with "path label" lists.
- `python -m tests.features_svm_data DIR`: 300 + 300 digits lists for trying the command offline.
- `write_scene_archive`: a zip laid out like UIUC's scene_categories.zip (15 class folders of
  grayscale JPEGs at the root), a few images per class.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf

SCENE_CLASSES = ("bedroom", "CALsuburb", "industrial", "kitchen", "livingroom", "MITcoast", "MITforest",
                 "MIThighway", "MITinsidecity", "MITmountain", "MITopencountry", "MITstreet",
                 "MITtallbuilding", "PARoffice", "store")


def encode(image: np.ndarray, fmt: str = "png") -> bytes:
    """uint8 (H, W) or (H, W, C) -> PNG or JPEG bytes."""
    image = image[..., None] if image.ndim == 2 else image
    tensor = tf.constant(image, tf.uint8)
    return (tf.io.encode_png(tensor) if fmt == "png" else tf.io.encode_jpeg(tensor, quality=95)).numpy()


def digit_images(size: int = 32, count: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, size, size) grayscale digits, labels), shuffled with `seed`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))[:count]
    small = digits.images[order].astype(np.float32) / 16.0  # 0..1
    big = tf.image.resize(small[..., None], (size, size), method="bilinear").numpy()[..., 0]
    return np.clip(np.round(big * 255), 0, 255).astype(np.uint8), digits.target[order].astype(np.int32)


def write_list(dest: Path, items: list[tuple[str, int]]) -> Path:
    dest.write_text("".join(f"{path} {label}\n" for path, label in items))
    return dest


def write_digits_lists(folder: Path, *, train: int = 200, test: int = 200, size: int = 32, fmt: str = "png",
                       seed: int = 0) -> tuple[Path, Path]:
    """Write train+test digit images under `folder/images` and the two lists; return the lists."""
    images, labels = digit_images(size, train + test, seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"images/{i:05d}.{fmt}"
        (folder / name).write_bytes(encode(image, fmt))
        items.append((name, int(label)))
    return write_list(folder / "train.txt", items[:train]), write_list(folder / "test.txt", items[train:])


def write_scene_archive(dest: Path, *, per_class: int = 3, size: int = 24, prefix: str = "",
                        extra: dict[str, bytes] | None = None, classes=SCENE_CLASSES) -> int:
    """A zip in the layout of scene_categories.zip; returns the number of images in it."""
    rng = np.random.default_rng(0)
    count = 0
    with zipfile.ZipFile(dest, "w") as zf:
        for c, name in enumerate(classes):
            for i in range(per_class):
                image = (rng.random((size, size)) * 60 + c * 12).astype(np.uint8)
                zf.writestr(f"{prefix}{name}/image_{i + 1:04d}.jpg", encode(image, "jpeg"))
                count += 1
        for member, body in (extra or {}).items():
            zf.writestr(member, body)
    return count



if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "digits_lists")
    train_list, test_list = write_digits_lists(out, train=300, test=300, size=32)
    print(f"wrote {train_list} and {test_list} (scikit-learn digits, 32x32 grayscale PNGs)")
