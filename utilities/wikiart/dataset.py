"""tf.data input pipeline from "path label" lists (utilities/data/train.txt, test.txt).

Per image, as the original skeleton (cv2.imread -> random flip -> cv2.resize 227x227 ->
minus mean): decode to RGB (`utilities.wikiart.decode`, bit-identical to cv2 for JPEG), resize
bilinear to `image_size` without cropping and round to uint8 like cv2.resize does, flip
horizontally at random when training, then per batch cast to float32 (RGB 0..255) and apply
the model's `preprocess` (e.g. `spec.preprocess`: RGB->BGR minus mean).
The flip happens after the resize (the original flipped before); bilinear resizing with
half-pixel centres is mirror-symmetric, so the two orders differ only by float rounding
(at most one grey level on a few pixels) and flipping the cached resized image is exact.

Paths in a list are relative to the list file's directory (absolute paths are used as they
are); the downloader writes "images/<id>.jpg" next to the lists, and lists written by the
original script (absolute paths) still work.

Shuffling and flipping follow an `EpochPlan`, a pure function of (seed, epoch): a full
permutation of the list (like the original's per-epoch shuffle, no shuffle buffer) and one
flip decision per image. Build a dataset per epoch with `epoch=k`; a resumed run then sees the
same batches it would have seen uninterrupted, and a trainer that caches the frozen layers'
output for x and flip(x) can replay exactly the batches of the uncached path (see
`load_examples`).

Unreadable images (corrupt, truncated, missing, not an image) are dropped by
`ignore_errors`, never crashing an epoch, and counted in a `DecodeStats`. Nothing else is
dropped: validation sees every image, with a partial last batch.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

if __package__ in (None, ""):  # run as `python utilities/wikiart/dataset.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from utilities.wikiart.decode import decode_rgb, image_problem, resize_uint8, size_pair  # noqa: E402

DOWNLOAD_HINT = "run `python utilities/download_wikiart.py` to download WikiArt and write the lists"
Preprocess = Callable[[tf.Tensor], tf.Tensor]


class ListFileError(ValueError):
    """A list file is malformed or lists nothing usable; the message names file and line."""


class MissingListError(FileNotFoundError):
    """A list file does not exist; the message says how to create it."""


@dataclass(frozen=True, eq=False)
class ImageList:
    """A parsed list: absolute image paths and integer labels, in file order."""

    list_file: Path
    paths: tuple[str, ...]
    labels: np.ndarray  # int32, one per path
    missing: int  # listed files that do not exist (they will be skipped and counted)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1


def read_image_list(list_file: str | os.PathLike) -> ImageList:
    """Parse a "path label" list. Blank lines and lines starting with "#" are ignored; a path
    may contain spaces (the label is the last field) and may be double-quoted."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise MissingListError(f"{list_file}: image list not found; {DOWNLOAD_HINT} "
                               "(or pass the path of your own list)")
    base = list_file.resolve().parent
    paths, labels = [], []
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFileError(f"{list_file}: cannot read the list ({exc})") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.rsplit(None, 1)
        if len(fields) != 2 or not _is_label(fields[1]):
            raise ListFileError(f"{list_file}:{number}: expected '<image path> <integer label>', "
                                f"got {raw!r}")
        path = fields[0].strip()
        if len(path) > 1 and path[0] == path[-1] == '"':
            path = path[1:-1]
        paths.append(str(base / path))  # an absolute `path` replaces `base`
        labels.append(int(fields[1]))
    if not paths:
        raise ListFileError(f"{list_file}: the list has no images; {DOWNLOAD_HINT}")
    missing = sum(not os.path.isfile(p) for p in paths)
    if missing == len(paths):
        raise ListFileError(f"{list_file}: none of its {len(paths)} images exist (paths are "
                            f"relative to {base}), e.g. {paths[0]}; {DOWNLOAD_HINT}")
    return ImageList(list_file, tuple(paths), np.asarray(labels, np.int32), missing)


def _is_label(text: str) -> bool:
    return text.isdigit() and text.isascii()


def _as_image_list(source: str | os.PathLike | ImageList) -> ImageList:
    return source if isinstance(source, ImageList) else read_image_list(source)


@dataclass(frozen=True, eq=False)
class EpochPlan:
    """Which images come in which order and which are mirrored during one epoch."""

    order: np.ndarray    # int64 indices into the list, in the order they are served
    flipped: np.ndarray  # bool, indexed by list index (not by position in `order`)

    def without(self, indices: Sequence[int]) -> EpochPlan:
        """The same plan with some list indices removed (e.g. the unreadable ones)."""
        keep = ~np.isin(self.order, np.asarray(indices, np.int64))
        return EpochPlan(self.order[keep], self.flipped)


def epoch_plan(num_examples: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True,
               flip: bool = True) -> EpochPlan:
    """Deterministic order and flips for `epoch`: the same (seed, epoch) gives the same plan
    in every process, so resumed and cached training see the batches a plain run sees."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(num_examples) if shuffle else np.arange(num_examples)
    flipped = rng.random(num_examples) < 0.5 if flip else np.zeros(num_examples, bool)
    return EpochPlan(order.astype(np.int64), flipped)


class DecodeStats:
    """Counts images attempted and decoded by the datasets it is passed to.

    The counters are CPU tf.Variables, updated from tf.data's threads (also under
    tf.distribute). After an epoch, `skipped` is the number of unreadable images; call
    `reset()` before the next one."""

    def __init__(self, name: str = "decode_stats"):
        with tf.init_scope(), tf.device("/CPU:0"):
            self._attempted = tf.Variable(0, dtype=tf.int64, trainable=False,
                                          name=f"{name}_attempted")
            self._decoded = tf.Variable(0, dtype=tf.int64, trainable=False,
                                        name=f"{name}_decoded")

    @property
    def attempted(self) -> int:
        return int(self._attempted.numpy())

    @property
    def decoded(self) -> int:
        return int(self._decoded.numpy())

    @property
    def skipped(self) -> int:
        return self.attempted - self.decoded

    def reset(self) -> None:
        self._attempted.assign(0)
        self._decoded.assign(0)

    def _count(self, variable: tf.Variable, *element):
        with tf.control_dependencies([variable.assign_add(1)]):
            return tuple(tf.identity(t) for t in element)

    def __repr__(self) -> str:
        return f"DecodeStats(attempted={self.attempted}, decoded={self.decoded})"


def _decoded_images(image_list: ImageList, plan: EpochPlan, image_size: int | Sequence[int],
                    stats: DecodeStats | None, num_parallel_calls: int) -> tf.data.Dataset:
    """(uint8 image, int32 label, int64 index) per readable image, in plan order."""
    order = plan.order
    paths = tf.constant([image_list.paths[i] for i in order], dtype=tf.string)
    ds = tf.data.Dataset.from_tensor_slices(
        (paths, image_list.labels[order], order, plan.flipped[order]))
    if stats is not None:
        ds = ds.map(lambda *e: stats._count(stats._attempted, *e))

    def load(path, label, index, flip):
        image = resize_uint8(decode_rgb(tf.io.read_file(path)), image_size)
        image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
        return image, label, index

    ds = ds.map(load, num_parallel_calls=num_parallel_calls).ignore_errors()
    if stats is not None:
        ds = ds.map(lambda *e: stats._count(stats._decoded, *e))
    return ds


def without_autotune(data: tf.data.Dataset) -> tf.data.Dataset:
    """`data` with tf.data's autotuner off; its parallel maps then use every core.

    Where a model consumes the batches on the CPU, the autotuner's background work competes
    with the model for the cores: measured on 2 cores, a 3a epoch without the feature cache
    ran at ~50 images/s in half the runs (~72 otherwise, always ~72 with it off), building
    the cache at 25 vs 41 images/s, and destroying an autotuned cached-feature iterator after
    an epoch with display steps stalled ~0.5 s (bench/finetune_run_bench.py).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return data.with_options(options)


def make_dataset(
    source: str | os.PathLike | ImageList,
    *,
    image_size: int | Sequence[int],
    batch_size: int = 32,
    training: bool = False,
    preprocess: Preprocess | None = None,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool | None = None,
    flip: bool | None = None,
    with_index: bool = False,
    drop_remainder: bool = False,
    stats: DecodeStats | None = None,
    num_parallel_calls: int = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Batches `(images, labels)` — or `(images, labels, indices)` with `with_index` — for
    one pass over the list.

    images: float32 (B, H, W, 3), `preprocess(RGB 0..255)` or the RGB values themselves when
    `preprocess` is None; labels: int32 (B,); indices: int64 (B,) rows of the list.
    `training` switches shuffling and random flips on (override with `shuffle` / `flip`);
    both follow `epoch_plan(len(list), seed=seed, epoch=epoch)`, so build one dataset per
    epoch. Unreadable images are skipped and counted in `stats`. The last partial batch is
    kept unless `drop_remainder`. tf.data's autotuner is off (`without_autotune`).
    """
    image_list = _as_image_list(source)
    size_pair(image_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    shuffle = training if shuffle is None else shuffle
    flip = training if flip is None else flip
    plan = epoch_plan(len(image_list), seed=seed, epoch=epoch, shuffle=shuffle, flip=flip)
    ds = _decoded_images(image_list, plan, image_size, stats, num_parallel_calls)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def finish(images, labels, indices):
        images = tf.cast(images, tf.float32)
        if preprocess is not None:
            images = preprocess(images)
        return (images, labels, indices) if with_index else (images, labels)

    ds = ds.map(finish, num_parallel_calls=num_parallel_calls)
    return without_autotune(ds.prefetch(tf.data.AUTOTUNE))


def file_problem(path: str | os.PathLike) -> str:
    """Why an image file is unreadable ("" when it is fine)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)
    return image_problem(data) or ""


def find_unreadable(source: str | os.PathLike | ImageList) -> list[tuple[str, str]]:
    """(path, reason) of every listed image the pipeline would skip; decodes each file once."""
    image_list = _as_image_list(source)
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(image_list.paths, dtype=tf.string), np.arange(len(image_list))))
    ds = ds.map(lambda path, index: (tf.shape(decode_rgb(tf.io.read_file(path)))[0], index),
                num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    good = {int(index) for _, index in ds.as_numpy_iterator()}
    return [(p, file_problem(p)) for i, p in enumerate(image_list.paths) if i not in good]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m utilities.wikiart.dataset LIST...`: check lists, print class counts and bad files."""
    from utilities.wikiart.styles import class_names

    parser = argparse.ArgumentParser(description="Check image lists: count images per class "
                                                 "and find the files training would skip.")
    parser.add_argument("lists", nargs="+", type=Path, help='"path label" list files')
    args = parser.parse_args(argv)
    status = 0
    for list_file in args.lists:
        try:
            image_list = read_image_list(list_file)
        except (ListFileError, MissingListError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        bad = find_unreadable(image_list)
        names = class_names(max(image_list.num_classes, 1))
        counts = Counter(image_list.labels.tolist())
        print(f"{list_file}: {len(image_list)} images, {len(bad)} unreadable")
        for label in sorted(counts):
            name = names[label] if label < len(names) else f"class {label}"
            print(f"  {label:>3} {name:<22} {counts[label]}")
        for path, reason in bad:
            print(f"  unreadable: {path}: {reason}")
    return status


if __name__ == "__main__":
    sys.exit(main())
