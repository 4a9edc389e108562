"""The 15 Scene data set (Lazebnik, Schmid & Ponce 2006): download, verify, split into lists.

    python -m utilities.features_svm.scene15          # fetch, check and write the lists once

The standard archive is UIUC's `scene_categories.zip`: 15 folders (bedroom, CALsuburb, ...,
store) of grayscale JPEGs, 4,485 images in all, at the root of the zip. No hash is published,
so the archive is checked instead (`utilities.common.archives.extract_zip`): every member's CRC,
no member outside the destination, the total and per-member uncompressed sizes (a zip bomb is
refused before anything is written), exactly 15 class folders and the expected number of images. The download is
atomic (`utilities.common.downloads.download_file`: a `.part` name renamed when complete), and
the extraction goes to a temporary folder renamed into place once verified, so an interrupted
run never leaves something that looks ready; a verified `images/` folder or a complete archive
is reused without the network.

Protocol (the handout's, after Lazebnik et al.): 100 training images per class, drawn with
`--seed`, every other image for testing. Folders already split as `train/<class>/` and
`test/<class>/` (the 15SceneData copy used by several courses) keep their own split.
The lists are written as "path label" lines next to the images, labels in sorted class order.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utilities.common.archives import ArchiveError, extract_zip
from utilities.common.atomic import write_text_atomic
from utilities.common.downloads import DownloadError, download_file
from utilities.features_svm.errors import FeaturesSvmError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "utilities" / "data" / "15scene"
URL = "http://www-cvr.ai.uiuc.edu/ponce_grp/data/scene_categories/scene_categories.zip"
ARCHIVE_NAME = "scene_categories.zip"
IMAGES_DIR = "images"
MARKER = ".verified.json"
NUM_CLASSES = 15
EXPECTED_IMAGES = 4485
TRAIN_PER_CLASS = 100
CLASS_NAMES = ("bedroom", "CALsuburb", "industrial", "kitchen", "livingroom", "MITcoast", "MITforest",
               "MIThighway", "MITinsidecity", "MITmountain", "MITopencountry", "MITstreet",
               "MITtallbuilding", "PARoffice", "store")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".pgm", ".tif", ".tiff"}
SPLIT_DIRS = ("train", "test")
# The real archive unpacks to about 86 MB of JPEGs of about 20 KB each; these bounds leave room for
# a re-encoded copy and refuse a zip bomb (3 GB of zeros in 3 MB) before anything is written.
MAX_UNPACKED_BYTES = 1 << 30
MAX_IMAGE_BYTES = 32 << 20


@dataclass(frozen=True)
class SceneLists:
    """The two list files and the class names their labels index."""

    train: Path
    test: Path
    class_names: tuple[str, ...]


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX")))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def _is_split_layout(folder: Path) -> bool:
    return {p.name.lower() for p in _visible_dirs(folder)} >= set(SPLIT_DIRS)


def find_class_root(folder: Path) -> Path:
    """The folder holding the class folders (or train/ and test/): `folder` or a lone subfolder."""
    while True:
        dirs = _visible_dirs(folder)
        if len(dirs) == 1 and not _images_in(folder) and not _is_split_layout(folder):
            folder = dirs[0]
            continue
        return folder


def scan(root: Path) -> dict[str, dict[str, list[Path]]]:
    """{split or "": {class: images}} of an extracted 15 Scene folder (split keys for train/test layouts)."""
    if _is_split_layout(root):
        by_name = {p.name.lower(): p for p in _visible_dirs(root)}
        return {split: {d.name: _images_in(d) for d in _visible_dirs(by_name[split])} for split in SPLIT_DIRS}
    return {"": {d.name: _images_in(d) for d in _visible_dirs(root)}}


def layout_problem(found: dict[str, dict[str, list[Path]]], expected_images: int | None) -> str | None:
    """What differs from 15 class folders holding `expected_images` images, or None."""
    classes = [sorted(per_class) for per_class in found.values()]
    total = sum(len(images) for per_class in found.values() for images in per_class.values())
    if any(len(names) != NUM_CLASSES for names in classes) or any(names != classes[0] for names in classes):
        seen = ", ".join(sorted(set(sum(classes, [])))) or "none"
        return f"expected {NUM_CLASSES} class folders (bedroom, CALsuburb, ..., store), found {seen}"
    empty = sorted({name for per_class in found.values() for name, images in per_class.items() if not images})
    if empty:
        return f"class folder(s) {', '.join(empty)} hold no images"
    if expected_images is not None and total != expected_images:
        return (f"expected {expected_images} images in the {NUM_CLASSES} class folders, found {total}; "
                "incomplete, or not the 15 Scene archive")
    return None


def verify(root: Path, *, expected_images: int | None = EXPECTED_IMAGES) -> dict[str, dict[str, list[Path]]]:
    """Check the 15 class folders and the image count; FeaturesSvmError describing what differs."""
    found = scan(root)
    problem = layout_problem(found, expected_images)
    if problem:
        raise FeaturesSvmError(f"{root}: {problem}")
    return found


def _manual_hint(url: str, data_dir: Path) -> str:
    return (f"download {url} by hand and save it as {(data_dir / ARCHIVE_NAME).resolve()} (or extract it so "
            f"that {(data_dir / IMAGES_DIR).resolve()}/<class>/ holds the images)")


def prepare(data_dir: str | os.PathLike = DEFAULT_DATA_DIR, *, url: str = URL,
            expected_images: int | None = EXPECTED_IMAGES, progress: bool = True) -> Path:
    """The verified image folder `<data_dir>/images`, downloading and extracting it if needed."""
    data_dir = Path(data_dir)
    images = data_dir / IMAGES_DIR
    if images.is_dir():
        verify(find_class_root(images), expected_images=expected_images)
        return images
    archive = data_dir / ARCHIVE_NAME
    if not archive.is_file():
        try:
            download_file(url, archive, progress=progress, description="15 Scene")
        except DownloadError as exc:
            raise FeaturesSvmError(f"15 Scene unavailable: {exc} (or extract it so that "
                                   f"{images.resolve()}/<class>/ holds the images)") from None
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".images.", dir=data_dir))
    try:
        try:
            extract_zip(archive, tmp, max_member_bytes=MAX_IMAGE_BYTES, max_total_bytes=MAX_UNPACKED_BYTES)
        except ArchiveError as exc:
            raise FeaturesSvmError(f"{exc}; delete it and run again, or {_manual_hint(url, data_dir)}") from None
        root = find_class_root(tmp)
        found = scan(root)
        problem = layout_problem(found, expected_images)
        if problem:
            raise FeaturesSvmError(f"{archive}: {problem}; delete it and run again, or {_manual_hint(url, data_dir)}")
        counts = {split or "all": {k: len(v) for k, v in per_class.items()} for split, per_class in found.items()}
        write_text_atomic(root / MARKER, json.dumps({"url": url, "archive": archive.name, "counts": counts}))
        os.replace(root, images)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return images


def split_lists(images: Path, *, train_per_class: int = TRAIN_PER_CLASS, seed: int = 0
                ) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]], tuple[str, ...]]:
    """(train, test, class names): `train_per_class` images per class drawn with `seed`, the rest test.

    An already split folder (train/ and test/) keeps its split and ignores both arguments."""
    found = scan(find_class_root(images))
    names = tuple(sorted(next(iter(found.values()))))
    if set(found) == set(SPLIT_DIRS):
        pick = {split: [(path, label) for label, name in enumerate(names) for path in found[split][name]]
                for split in SPLIT_DIRS}
        return pick["train"], pick["test"], names
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, name in enumerate(names):
        files = found[""][name]
        if len(files) <= train_per_class:
            raise FeaturesSvmError(f"--train-per-class {train_per_class}: class {name!r} has only {len(files)} "
                                   "images (some must stay for testing)")
        order = rng.permutation(len(files))
        train += [(files[i], label) for i in sorted(order[:train_per_class])]
        test += [(files[i], label) for i in sorted(order[train_per_class:])]
    return train, test, names


def _list_text(items: list[tuple[Path, int]], base: Path) -> str:
    return "".join(f"{path.relative_to(base).as_posix()} {label}\n" for path, label in items)


def write_lists(data_dir: str | os.PathLike = DEFAULT_DATA_DIR, *, train_per_class: int = TRAIN_PER_CLASS,
                seed: int = 0, url: str = URL, expected_images: int | None = EXPECTED_IMAGES,
                progress: bool = True) -> SceneLists:
    """Prepare the images and write `train.txt`, `test.txt`, `classes.txt` in `data_dir` (atomically)."""
    data_dir = Path(data_dir)
    if train_per_class < 1:
        raise FeaturesSvmError(f"--train-per-class must be at least 1, got {train_per_class}")
    images = prepare(data_dir, url=url, expected_images=expected_images, progress=progress)
    train, test, names = split_lists(images, train_per_class=train_per_class, seed=seed)
    base = data_dir.resolve()
    train = [(p.resolve(), label) for p, label in train]
    test = [(p.resolve(), label) for p, label in test]
    lists = SceneLists(data_dir / "train.txt", data_dir / "test.txt", names)
    write_text_atomic(lists.train, _list_text(train, base))
    write_text_atomic(lists.test, _list_text(test, base))
    write_text_atomic(data_dir / "classes.txt", "".join(f"{i} {n}\n" for i, n in enumerate(names)))
    return lists


def main(argv: list[str] | None = None) -> int:
    """`python -m utilities.features_svm.scene15`: download, verify and write the lists."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the archive and images go")
    parser.add_argument("--url", default=URL, help="archive URL (a mirror)")
    parser.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    parser.add_argument("--seed", type=int, default=0, help="which training images are drawn")
    args = parser.parse_args(argv)
    try:
        lists = write_lists(args.data_dir, train_per_class=args.train_per_class, seed=args.seed, url=args.url)
    except FeaturesSvmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"15 Scene ready: {lists.train} and {lists.test} ({len(lists.class_names)} classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
