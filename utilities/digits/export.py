"""Export one of the image sets as PNG files and "path label" lists, the format assignment_3a.py reads.

    python -m utilities.digits.export fashion_mnist data/fashion --train-per-class 100 --test-per-class 50
    python assignment_3a.py --model squeezenet --train-list data/fashion/train.txt \\
        --val-list data/fashion/test.txt --num-classes 10

Writes, into the folder OUT:

    images/train/<label>_<class>/<index>.png   28x28 8-bit greyscale PNGs (the set's own pixels;
    images/test/<label>_<class>/<index>.png    <index> is the image's row in the set's split)
    train.txt, test.txt                        one "images/.../<index>.png <label>" line per image,
                                               paths relative to the list's folder (as the WikiArt
                                               downloader writes them), sorted by label and index
    classes.txt                                the class names, line i = label i (assignment_3a.py
                                               uses it for its confusion matrices and explanations)
    export.json                                what was exported: dataset, where it came from, seed,
                                               per-class counts, the command

`--train-per-class N` / `--test-per-class N` pick N images of each class out of the set's training /
test split, seeded (`--seed`) and stratified: the same arguments always pick the same images (0: all).
The export is atomic: everything is written into a hidden folder beside OUT and renamed into place
at the end, so OUT is either absent, the previous export, or the complete new one, never half of
one (an interrupted export leaves only the hidden folder, removed by the next export). An OUT
that already holds files is refused unless `--overwrite` is given; the old export is then
replaced in one rename. Errors are one line on stderr, exit status 2 (130 when interrupted).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python utilities/digits/export.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from utilities.common.output_paths import OutputPathError, check_output_dir, disk_full_message  # noqa: E402
from utilities.common.run_folder import holds_a_run  # noqa: E402
from utilities.digits.image_set import DATASETS, DatasetUnavailable, ImageSet  # noqa: E402
from utilities.digits.loader import DATA_DIR_DATASETS, load_image_set  # noqa: E402

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
DEFAULT_TRAIN_PER_CLASS = 100
DEFAULT_TEST_PER_CLASS = 100
LISTS = {"train": "train.txt", "test": "test.txt"}
CLASSES_FILE = "classes.txt"
INFO_FILE = "export.json"
IMAGES_DIR = "images"
PARTIAL_TAG = ".partial-"
OLD_TAG = ".old-"


class ExportError(RuntimeError):
    """The export cannot be made; str() is one line saying why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    counts: dict[str, int]        # images per split
    source: str


def class_slug(name: str) -> str:
    """"T-shirt/top" -> "t_shirt_top": a folder name made of the class name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "class"


def pick_per_class(labels: np.ndarray, per_class: int, seed: int, num_classes: int, *,
                   split: str, flag: str, classes: Sequence[str]) -> np.ndarray:
    """Indices of `per_class` images of every class (0: all), seeded and stratified, sorted by (label, index).

    Each class draws from its own generator (seed, split, class), so the images picked for one class
    do not depend on how many are asked of another, and asking for more keeps the ones picked for
    fewer. ExportError when a class has fewer images.
    """
    labels = np.asarray(labels)
    chosen = []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        if per_class == 0:
            chosen.append(members)
            continue
        if len(members) < per_class:
            raise ExportError(f"{flag} {per_class}: class {label} ({classes[label]!r}) has only {len(members)} "
                              f"{split} images; ask for at most {len(members)}, or 0 for all")
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, label])
        chosen.append(np.sort(rng.permutation(members)[:per_class]))   # a larger N keeps the smaller N's picks
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 1) or (N, H, W) float in [0, 1] -> (N, H, W) uint8; exact for sets stored as x / 255."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    return np.clip(np.rint(images.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def _png(image: np.ndarray) -> bytes:
    import cv2
    ok, data = cv2.imencode(".png", image)
    if not ok:  # cv2 refuses only impossible shapes; never expected for 2-D uint8
        raise ExportError(f"could not encode an image of shape {image.shape} as PNG")
    return data.tobytes()


def _remove_stale(parent: Path, name: str) -> None:
    """Hidden folders of exports to `name` whose process is gone (killed mid-way): removed."""
    for path in parent.glob(f".{name}{PARTIAL_TAG}*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _no_progress(iterable: Iterable, **_) -> Iterable:
    return iterable


def write_export(image_set: ImageSet, out: str | os.PathLike, *, train_per_class: int = DEFAULT_TRAIN_PER_CLASS,
                 test_per_class: int = DEFAULT_TEST_PER_CLASS, seed: int = 0, overwrite: bool = False,
                 progress: Callable = _no_progress, command: str = "") -> ExportResult:
    """Write `image_set` (subsampled) into `out` atomically (module docstring); ExportError on a user error."""
    out = Path(out)
    for flag, value in (("--train-per-class", train_per_class), ("--test-per-class", test_per_class)):
        if value < 0:
            raise ExportError(f"{flag} must be >= 0 (0: every image), got {value}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"OUT {out} is a file, not a folder; choose another path")
    if holds_a_run(out) and not overwrite:
        raise ExportError(f"OUT {out} already holds files (an earlier export?); add --overwrite to replace it, "
                          "or choose another folder")
    try:
        check_output_dir(out.parent if str(out.parent) else Path("."), "OUT")
    except OutputPathError as exc:
        raise ExportError(str(exc)) from None
    classes = list(image_set.class_names)
    picks = {"train": pick_per_class(image_set.y_train, train_per_class, seed, len(classes), split="train",
                                     flag="--train-per-class", classes=classes),
             "test": pick_per_class(image_set.y_test, test_per_class, seed, len(classes), split="test",
                                    flag="--test-per-class", classes=classes)}
    parent, name = out.resolve().parent, out.resolve().name
    _remove_stale(parent, name)
    staging = parent / f".{name}{PARTIAL_TAG}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        _write_into(staging, image_set, picks, classes, progress)
        info = {"dataset": image_set.name, "source": image_set.source, "seed": seed,
                "train_per_class": train_per_class, "test_per_class": test_per_class,
                "images": {split: len(indices) for split, indices in picks.items()},
                "classes": classes, "command": command}
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        _move_into_place(staging, out, overwrite)
    except OSError as exc:
        message = disk_full_message(exc, out)
        raise ExportError(message or f"OUT {out}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out, {split: len(indices) for split, indices in picks.items()}, image_set.source)


def _write_into(folder: Path, image_set: ImageSet, picks: dict[str, np.ndarray], classes: Sequence[str],
                progress: Callable) -> None:
    arrays = {"train": (image_set.x_train, image_set.y_train), "test": (image_set.x_test, image_set.y_test)}
    folders = [f"{label}_{class_slug(name)}" for label, name in enumerate(classes)]
    width = len(str(max(len(image_set.y_train), len(image_set.y_test), 1) - 1))
    total = sum(len(p) for p in picks.values())
    bar = progress(range(total), total=total, desc="exporting", unit="image")
    ticks = iter(bar)
    for split, indices in picks.items():
        images, labels = arrays[split]
        lines = []
        for label in range(len(classes)):
            (folder / IMAGES_DIR / split / folders[label]).mkdir(parents=True, exist_ok=True)
        for index in indices:
            label = int(labels[index])
            relative = f"{IMAGES_DIR}/{split}/{folders[label]}/{index:0{width}d}.png"
            (folder / relative).write_bytes(_png(as_uint8(images[index:index + 1])[0]))
            lines.append(f"{relative} {label}\n")
            next(ticks, None)
        (folder / LISTS[split]).write_text("".join(lines))
    for _ in ticks:   # let the bar finish and close
        pass
    (folder / CLASSES_FILE).write_text("".join(f"{name}\n" for name in classes))


def _move_into_place(staging: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished export to `out`; with `overwrite`, the old one is renamed away first, then removed."""
    old = None
    if out.exists():
        if holds_a_run(out):
            if not overwrite:   # appeared while we were writing (another export)
                raise ExportError(f"OUT {out} was filled by someone else during the export; nothing was replaced "
                                  "(add --overwrite to replace it)")
            old = out.parent / f".{out.name}{OLD_TAG}{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
        else:
            shutil.rmtree(out)   # an empty folder (or one holding a stale lock file only)
    try:
        os.rename(staging, out)
    except OSError:
        if old is not None:      # put the previous export back
            with contextlib.suppress(OSError):
                os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_class_names(folder: str | os.PathLike) -> list[str] | None:
    """The names in `folder/classes.txt` (line i = label i), or None when there is no such file."""
    path = Path(folder) / CLASSES_FILE
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m utilities.digits.export",
                                description="Export an image set as PNGs + train.txt / test.txt for assignment_3a.py.")
    p.add_argument("dataset", choices=DATASETS, help="which set (fashion_mnist, mnist5k: real; digits: offline)")
    p.add_argument("out", type=Path, help="the export folder (images/, train.txt, test.txt, classes.txt)")
    p.add_argument("--train-per-class", type=int, default=DEFAULT_TRAIN_PER_CLASS,
                   help="training images of each class, seeded and stratified; 0: all (default %(default)s)")
    p.add_argument("--test-per-class", type=int, default=DEFAULT_TEST_PER_CLASS,
                   help="test images of each class, seeded and stratified; 0: all (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="which images are picked (default %(default)s)")
    p.add_argument("--data-dir", type=Path,
                   help=f"another copy of the set's files ({', '.join(DATA_DIR_DATASETS)} only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export in OUT")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = shlex.join(["python", "-m", "utilities.digits.export",
                          *(sys.argv[1:] if argv is None else list(argv))])
    try:
        if args.data_dir is not None and args.dataset not in DATA_DIR_DATASETS:
            raise ExportError(f"--data-dir applies to {', '.join(DATA_DIR_DATASETS)} only, not {args.dataset}")
        for flag, value in (("--train-per-class", args.train_per_class), ("--test-per-class", args.test_per_class)):
            if value < 0:
                raise ExportError(f"{flag} must be >= 0 (0: every image), got {value}")
        if args.out.exists() and not args.out.is_dir():
            raise ExportError(f"OUT {args.out} is a file, not a folder; choose another path")
        if holds_a_run(args.out) and not args.overwrite:   # before loading 70,000 images
            raise ExportError(f"OUT {args.out} already holds files (an earlier export?); add --overwrite to "
                              "replace it, or choose another folder")
        kwargs = {"data_dir": args.data_dir} if args.data_dir is not None else {}
        if args.dataset in ("fashion_mnist", "mnist", "mnist5k"):
            kwargs["progress"] = args.progress
        image_set = load_image_set(args.dataset, **kwargs)
        if args.progress:
            from tqdm.auto import tqdm as progress
        else:
            progress = _no_progress
        result = write_export(image_set, args.out, train_per_class=args.train_per_class,
                              test_per_class=args.test_per_class, seed=args.seed, overwrite=args.overwrite,
                              progress=progress, command=command)
    except (ExportError, DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"\ninterrupted: nothing was written to {args.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    out = result.out
    origin = f"; from {result.source}" if result.source else ""
    print(f"{args.dataset}: {result.counts['train']} training / {result.counts['test']} test images of "
          f"{len(image_set.class_names)} classes written to {out} (seed {args.seed}{origin})")
    print(f"Fine-tune on it: python assignment_3a.py --model squeezenet --train-list {out / LISTS['train']} "
          f"--val-list {out / LISTS['test']} --num-classes {len(image_set.class_names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
