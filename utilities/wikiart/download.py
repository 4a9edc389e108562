"""Download the WikiArt style subset and write the "path label" lists used for fine-tuning.

    python utilities/download_wikiart.py            # or: python -m utilities.wikiart.download

Faithful to the assignment's script (itself a fork of Caffe's
examples/finetune_flickr_style/assemble_data.py): read `wikiart.csv.gz` in file order, seed
NumPy's legacy global generator with `--seed` (0) and reorder the rows with
`np.random.permutation(len(rows))` — reproduced here as `np.random.RandomState(seed)
.permutation(n)`, which yields the same permutation — keep the first `--limit` (4005) rows,
download each `image_url` to `<out-dir>/images/<image_id>.jpg`, drop the images that cannot
be read, and write `<out-dir>/train.txt` and `<out-dir>/test.txt` (split by the `_split`
column) with one "path label" line per image, in the shuffled order.

What is better than the original:
- threads instead of processes (the work is network I/O), with a progress bar;
- a timeout per connection/read, and retries with exponential backoff (plus Retry-After)
  for what can heal: HTTP 5xx/408/429, timeouts, dropped connections, truncated bodies.
  A 404 or a body that is not an image is final and is not retried;
- resume: an existing file that decodes is kept without touching the network, so an
  interrupted run continues where it stopped;
- atomic writes: the bytes are checked in memory and then written to a temporary name that is
  renamed into place, so a kill never leaves half an image under the final name;
- every image is decoded with the same decoder the training pipeline uses;
- a summary of the failures by reason, and `<out-dir>/failures.tsv` listing each one;
- the list paths are relative to the list's directory ("images/<id>.jpg"), so the data
  folder can be moved; the original wrote absolute paths.
- `--url-rewrite PATTERN REPLACEMENT` points the download at a mirror (or, in the tests, a
  loopback server) without editing the CSV.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import gzip
import http.client
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python utilities/wikiart/download.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from utilities.common.atomic import atomic_path, write_text_atomic  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CSV = HERE / "wikiart.csv.gz"
DEFAULT_OUT_DIR = HERE.parent / "data"
DEFAULT_LIMIT = 4005
SPLITS = ("train", "test")
REQUIRED_COLUMNS = ("image_id", "image_url", "label", "_split")
USER_AGENT = "wikiart-style-finetuning/1.0 (Python urllib)"
MAX_BACKOFF_S = 60.0
RETRYABLE_HTTP = frozenset({408, 429})
IMAGE_SUFFIX = ".jpg"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class CsvError(ValueError):
    """The CSV is missing, unreadable or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class Painting:
    """One CSV row: what to fetch and how it is labelled."""

    image_id: str
    image_url: str
    label: int
    split: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one painting. status: "downloaded", "present" (kept) or "failed"."""

    painting: Painting
    path: Path
    status: str
    reason: str = ""
    detail: str = ""
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class NetworkDownError(RuntimeError):
    """Every image so far failed to connect or timed out: the hosts look unreachable."""


NETWORK_REASONS = frozenset({"connection error", "timeout"})


class _Failure(Exception):
    def __init__(self, reason: str, detail: str, retryable: bool, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after


# --------------------------------------------------------------------------- CSV and selection


def read_paintings(csv_path: str | os.PathLike) -> list[Painting]:
    """All rows of the (optionally gzipped) CSV, in file order; CsvError names file and line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CsvError(f"{csv_path}: CSV not found; pass --csv PATH (the project ships "
                       f"{DEFAULT_CSV.relative_to(HERE.parents[1])})")
    opener = gzip.open if csv_path.suffix == ".gz" else open
    try:
        with opener(csv_path, "rt", newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise CsvError(f"{csv_path}: missing column(s) {', '.join(missing)}; "
                               f"expected {', '.join(REQUIRED_COLUMNS)}")
            paintings = [_painting(row, csv_path, reader.line_num) for row in reader]
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise CsvError(f"{csv_path}: cannot read the CSV ({exc})") from exc
    seen: set[str] = set()
    for painting in paintings:
        if painting.image_id in seen:
            raise CsvError(f"{csv_path}: image_id {painting.image_id!r} appears twice")
        seen.add(painting.image_id)
    return paintings


def _painting(row: dict, csv_path: Path, line: int) -> Painting:
    where = f"{csv_path}:{line}"
    image_id = (row.get("image_id") or "").strip()
    if not _SAFE_ID.fullmatch(image_id):
        raise CsvError(f"{where}: image_id {image_id!r} is not a safe file name")
    try:
        label = int(row["label"])
    except (TypeError, ValueError):
        raise CsvError(f"{where}: label {row.get('label')!r} is not an integer") from None
    split = (row.get("_split") or "").strip()
    if split not in SPLITS:
        raise CsvError(f"{where}: _split {split!r} is not one of {', '.join(SPLITS)}")
    url = (row.get("image_url") or "").strip()
    if not url:
        raise CsvError(f"{where}: empty image_url")
    return Painting(image_id, url, label, split)


def choose_paintings(paintings: Sequence[Painting], *, seed: int = 0,
                     limit: int = DEFAULT_LIMIT) -> list[Painting]:
    """The original's subset: rows reordered by `np.random.seed(seed); np.random.permutation(n)`,
    then the first `limit` (all of them when `limit` <= 0 or >= n)."""
    import numpy as np

    order = np.random.RandomState(seed).permutation(len(paintings))
    if 0 < limit < len(paintings):
        order = order[:limit]
    return [paintings[i] for i in order]


# --------------------------------------------------------------------------- downloading


def url_rewriter(rewrites: Iterable[tuple[str, str]]) -> Callable[[str], str]:
    """A function applying each (regex, replacement) in turn with `re.sub` (bad regex: ValueError)."""
    compiled = []
    for pattern, replacement in rewrites:
        try:
            compiled.append((re.compile(pattern), replacement))
        except re.error as exc:
            raise ValueError(f"--url-rewrite pattern {pattern!r} is not a valid regex: {exc}") from None

    def rewrite(url: str) -> str:
        for regex, replacement in compiled:
            url = regex.sub(replacement, url)
        return url

    return rewrite


def image_path(images_dir: Path, painting: Painting) -> Path:
    return images_dir / f"{painting.image_id}{IMAGE_SUFFIX}"


def fetch_painting(
    painting: Painting,
    images_dir: Path,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    url_map: Callable[[str], str] = lambda url: url,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Make sure `images_dir/<image_id>.jpg` holds a readable image; never raises for
    network or image problems (they come back as a failed Outcome)."""
    from utilities.wikiart.decode import image_problem

    dest = image_path(images_dir, painting)
    if dest.is_file():
        try:
            if image_problem(dest.read_bytes()) is None:
                return Outcome(painting, dest, "present")
        except OSError:
            pass  # unreadable file: fetch it again and replace it
    url = url_map(painting.image_url)
    attempts = 0
    while True:
        attempts += 1
        try:
            data, content_type = _http_get(url, timeout)
            problem = image_problem(data)
            if problem is not None:
                kind = f"{content_type or 'no content type'}, {len(data)} bytes"
                raise _Failure("not an image", f"{kind}: {problem}", retryable=False)
            _write_atomic(dest, data)
            return Outcome(painting, dest, "downloaded", attempts=attempts)
        except _Failure as failure:
            if not failure.retryable or attempts > retries:
                return Outcome(painting, dest, "failed", failure.reason, failure.detail, attempts)
            delay = backoff * 2 ** (attempts - 1) * (1.0 + 0.25 * random.random())
            if failure.retry_after is not None:
                delay = max(delay, failure.retry_after)
            sleep(min(delay, MAX_BACKOFF_S))


def _http_get(url: str, timeout: float) -> tuple[bytes, str]:
    """GET `url`; every failure becomes a _Failure saying whether a retry may help."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        retryable = exc.code >= 500 or exc.code in RETRYABLE_HTTP
        raise _Failure(f"HTTP {exc.code}", f"{exc.reason}", retryable,
                       _retry_after(exc.headers.get("Retry-After") if exc.headers else None)) from None
    except http.client.InvalidURL as exc:
        raise _Failure("bad URL", f"{url}: {exc}", False) from None
    except http.client.IncompleteRead as exc:
        raise _Failure("truncated", f"connection closed after {len(exc.partial)} bytes"
                       + (f" of {len(exc.partial) + exc.expected}" if exc.expected else ""), True) from None
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise _Failure("timeout", f"no data for {timeout:g} s", True) from None
        if isinstance(exc, urllib.error.URLError) and isinstance(reason, str):
            raise _Failure("bad URL", f"{url}: {reason}", False) from None
        raise _Failure("connection error", f"{type(reason).__name__}: {reason}", True) from None
    except ValueError as exc:  # urlopen rejects URLs without a scheme, etc.
        raise _Failure("bad URL", f"{url}: {exc}", False) from None


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), MAX_BACKOFF_S) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to the exponential backoff


def _write_atomic(dest: Path, data: bytes) -> None:
    try:
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise _Failure("write error", f"{dest}: {exc}", retryable=False) from exc


def remove_stale_temporaries(images_dir: Path) -> int:
    """Delete temporary files a killed run left in `images_dir` (hidden ".<id>.*.jpg" names)."""
    removed = 0
    for leftover in images_dir.glob(f".*{IMAGE_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def download_paintings(
    paintings: Sequence[Painting],
    images_dir: str | os.PathLike,
    *,
    workers: int = 16,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    url_map: Callable[[str], str] = lambda url: url,
    progress: bool = True,
    give_up_after: int = 48,
) -> list[Outcome]:
    """Fetch (or keep) every painting with a thread pool; outcomes in the input order.

    Raises NetworkDownError when the first `give_up_after` finished images all failed to
    connect or timed out (offline, blocked or moved hosts), instead of spending retries and
    backoff on thousands of images that cannot succeed.
    """
    from tqdm.auto import tqdm

    import utilities.wikiart.decode  # noqa: F401  (imports TensorFlow once, before the threads)

    images_dir = Path(images_dir)
    images_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(images_dir)
    outcomes: list[Outcome | None] = [None] * len(paintings)
    failed = 0
    reachable = False  # some image was kept, or some server answered (even with a 404)
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise KeyboardInterrupt  # the main thread was interrupted: give up quietly

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    interrupted = False
    try:
        futures = {
            pool.submit(fetch_painting, p, images_dir, timeout=timeout, retries=retries,
                        backoff=backoff, url_map=url_map, sleep=sleep): i
            for i, p in enumerate(paintings)
        }
        with tqdm(total=len(futures), unit="img", desc="WikiArt", disable=not progress) as bar:
            for future in concurrent.futures.as_completed(futures):
                outcome = future.result()
                outcomes[futures[future]] = outcome
                failed += not outcome.ok
                reachable = reachable or outcome.reason not in NETWORK_REASONS
                bar.set_postfix(failed=failed, refresh=False)
                bar.update()
                if not reachable and failed >= give_up_after:
                    raise NetworkDownError(
                        f"the first {failed} images all failed ({outcome.reason}: "
                        f"{outcome.detail}); the image hosts look unreachable. Check the "
                        "network or a proxy, or use --url-rewrite to point at a mirror")
    except KeyboardInterrupt:
        interrupted = True   # do not wait for downloads in flight (up to --timeout): they write
        raise                # only temporary names, removed by the next run
    finally:
        stop.set()
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return [o for o in outcomes if o is not None]


# --------------------------------------------------------------------------- outputs


def write_lists(outcomes: Sequence[Outcome], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write `<out_dir>/<split>.txt` ("path label" per line, paths relative to out_dir)."""
    out_dir = Path(out_dir)
    written = {}
    for split in SPLITS:
        lines = [
            f"{Path(os.path.relpath(o.path, out_dir)).as_posix()} {o.painting.label}\n"
            for o in outcomes
            if o.ok and o.painting.split == split
        ]
        written[split] = write_text_atomic(out_dir / f"{split}.txt", "".join(lines))
    return written


def write_failures(outcomes: Sequence[Outcome], path: str | os.PathLike) -> Path:
    """Tab-separated list of the failures of this run (header only when nothing failed)."""
    rows = ["image_id\treason\tattempts\turl\tdetail\n"]
    for o in outcomes:
        if not o.ok:
            detail = o.detail.replace("\t", " ").replace("\n", " ")
            rows.append(f"{o.painting.image_id}\t{o.reason}\t{o.attempts}\t"
                        f"{o.painting.image_url}\t{detail}\n")
    return write_text_atomic(path, "".join(rows))


def summarize(outcomes: Sequence[Outcome]) -> str:
    """Counts of downloaded / kept / failed images and of failures per reason."""
    status = Counter(o.status for o in outcomes)
    lines = [f"{len(outcomes)} images: {status['downloaded']} downloaded, "
             f"{status['present']} already present, {status['failed']} failed"]
    reasons = Counter(o.reason for o in outcomes if not o.ok)
    for reason, count in reasons.most_common():
        lines.append(f"  {reason:<18} {count}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Download the WikiArt style subset and write train/test lists.")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV,
                        help="CSV with image_id,page_url,image_url,label,_split (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help="where images/, train.txt, test.txt and failures.tsv go "
                             "(default: %(default)s)")
    parser.add_argument("--limit", "-i", "--images", dest="limit", type=int, default=DEFAULT_LIMIT,
                        help="keep the first N rows after shuffling; 0 = all (default: %(default)s)")
    parser.add_argument("--seed", "-s", type=int, default=0,
                        help="seed of the shuffle, as the original (default: %(default)s)")
    parser.add_argument("--workers", "-w", type=int, default=16,
                        help="parallel downloads (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds without data before an attempt fails (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=3,
                        help="extra attempts after a 5xx/timeout/dropped connection "
                             "(default: %(default)s)")
    parser.add_argument("--backoff", type=float, default=1.0,
                        help="first retry delay in seconds, doubled each retry (default: %(default)s)")
    parser.add_argument("--url-rewrite", nargs=2, action="append", default=[],
                        metavar=("PATTERN", "REPLACEMENT"),
                        help="rewrite image URLs with re.sub before fetching, e.g. to use a mirror: "
                             r"--url-rewrite '^https?://uploads\d+\.wikiart\.org/' "
                             "'http://mirror.example/' (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow only decodes here
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.retries < 0 or args.backoff < 0:
        parser.error("--retries and --backoff cannot be negative")
    try:
        url_map = url_rewriter(args.url_rewrite)
        paintings = choose_paintings(read_paintings(args.csv), seed=args.seed, limit=args.limit)
    except (CsvError, ValueError) as exc:
        parser.error(str(exc))
    out_dir = args.out_dir
    from utilities.common.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()  # the decode check uses TensorFlow: no CUDA-probe lines on the terminal
    print(f"Fetching {len(paintings)} WikiArt images into {out_dir / 'images'} "
          f"with {min(args.workers, len(paintings))} workers", flush=True)
    try:
        outcomes = download_paintings(
            paintings, out_dir / "images", workers=args.workers, timeout=args.timeout,
            retries=args.retries, backoff=args.backoff, url_map=url_map,
            progress=not args.no_progress)
    except KeyboardInterrupt:
        print("\nInterrupted. Finished images are kept; run the same command again to resume.",
              file=sys.stderr)
        return 130
    except NetworkDownError as exc:
        print(f"\nStopped: {exc}. Images already saved are kept; run again to resume.",
              file=sys.stderr)
        return 1
    failures = write_failures(outcomes, out_dir / "failures.tsv")
    print(summarize(outcomes))
    good = [o for o in outcomes if o.ok]
    if not good:
        print(f"No image could be fetched, so train/test lists were not written. Reasons are in "
              f"{failures}. Check the network, or use --url-rewrite to point at a mirror.",
              file=sys.stderr)
        return 1
    if len(good) < len(outcomes):
        print(f"Failures (one per line, with the reason): {failures}")
    for split, path in write_lists(outcomes, out_dir).items():
        count = sum(o.painting.split == split for o in good)
        print(f"Wrote {path} ({count} images)")
    return 0


def cli() -> None:
    """Run `main` as a command. After Ctrl-C the process ends at once: threads still blocked in a
    download (which only ever writes a temporary name) are abandoned, not waited for."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    cli()
