"""Hostile inputs and faults for domain_adaptation.py (issue 24's probe cases 1, 3, 4, 6, 9 and 11).

Each case is what the probe did and what must happen instead: a flag refused before any work,
one line on stderr and the documented exit status, nothing cached or written half.
Tiny networks (conv widths 4, 8; 5 steps an epoch) keep the runs to a few seconds.
"""
from __future__ import annotations

import errno
import gzip
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

import domain_adaptation
from tests.domain_adaptation_bsr import TRAIN_PHOTOS, bsr_archive_bytes
from utilities.common.run_folder import LOCK_NAME, RunFolderError
from utilities.digits import ImageSet, load_image_set
from utilities.domain_adaptation import Config, compare, load_domains
from utilities.domain_adaptation.bsds import ARCHIVE_NAME, MAX_PHOTO_BYTES, TRAIN_PREFIX, PhotosUnavailable
from utilities.domain_adaptation.mnistm import CACHE_NAME, load_mnistm

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--filters", "4,8", "--batch-size", "256", "--no-progress", "--embedding", "pca", "--epochs", "1"]


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return [*TINY, "--out", str(tmp_path / "r"), "--logdir", str(tmp_path / "l"), *extra]


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def digits_domains():
    return load_domains("digits", Path("unused"))


def _fake_mnist(n_train: int = 12, n_test: int = 5) -> ImageSet:
    rng = np.random.default_rng(3)
    return ImageSet("mnist", (rng.random((n_train, 28, 28, 1)) > 0.7).astype(np.float32), np.arange(n_train) % 10,
                    (rng.random((n_test, 28, 28, 1)) > 0.7).astype(np.float32), np.arange(n_test) % 10,
                    tuple(str(d) for d in range(10)))


# --- case 1: non-finite lambda and gamma ---------------------------------------------------------
@pytest.mark.parametrize("extra", [["--lambda", "fixed:nan"], ["--lambda", "fixed:inf"], ["--gamma", "nan"],
                                   ["--gamma=-inf"], ["--momentum", "nan"], ["--pseudo-threshold", "nan"]])
def test_non_finite_numbers_are_refused_when_the_flags_are_parsed(tmp_path, capsys, extra):
    with pytest.raises(SystemExit) as info:
        domain_adaptation.main(_args(tmp_path, *extra))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {extra[0].split('=')[0]}:" in err and "finite" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # refused before any work


def test_the_api_refuses_them_too(tmp_path):
    from utilities.domain_adaptation import ExperimentError
    for bad in (dict(lambda_spec="fixed:nan"), dict(gamma=float("nan")), dict(gamma=0.0),
                dict(learning_rate=float("inf"))):
        with pytest.raises(ExperimentError, match="finite|--gamma|--learning-rate|--lambda"):
            Config(**bad).resolved()


# --- case 3: two runs into one run folder --------------------------------------------------------
def test_a_second_run_into_a_folder_being_written_refuses_in_one_line(tmp_path, capsys):
    run = tmp_path / "r" / "digits_dann_schedule_seed0"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from utilities.common.run_folder import claim_run_folder\n"
         "with claim_run_folder(sys.argv[2]):\n    print('held', flush=True); time.sleep(60)", str(ROOT), str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in ([], ["--resume"], ["--overwrite"]):   # whatever the flags: the folder is busy
            assert domain_adaptation.main(_args(tmp_path, *extra)) == 2
            err = _one_line(capsys.readouterr().err)
            assert f"being written by another run (process {holder.pid})" in err and "--run-name" in err
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not (run / "metrics.csv").exists() and not (run / "checkpoints").exists()


def test_an_existing_run_is_refused_the_same_way_and_overwrite_starts_it_clean(tmp_path, capsys):
    assert domain_adaptation.main(_args(tmp_path)) == 0
    capsys.readouterr()
    run = tmp_path / "r" / "digits_dann_schedule_seed0"
    before = (run / "metrics.csv").read_bytes()
    assert domain_adaptation.main(_args(tmp_path)) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"{run} already holds a run: add --resume to continue it, --overwrite to start it over, or choose " \
           "another --run-name" in err
    assert (run / "metrics.csv").read_bytes() == before
    events = tmp_path / "l" / "digits_dann_schedule_seed0"
    first_events = sorted(events.glob("events.out.tfevents.*"))
    assert domain_adaptation.main(_args(tmp_path, "--overwrite", "--embedding", "none")) == 0
    assert not (run / "features.png").exists()  # the old run's figure went with it
    new_events = sorted(events.glob("events.out.tfevents.*"))
    assert len(new_events) == 1 and not set(first_events) & set(new_events)  # no mixed TensorBoard curves
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME, "checkpoints", "metrics.csv", "summary.json"]


def test_compare_checks_every_run_folder_first_and_resume_finishes_a_partial_comparison(tmp_path, digits_domains,
                                                                                          capsys):
    variants = (("source-only", "source-only", None), ("dann", "dann", "schedule"))
    config = Config(filters=(4, 8), batch_size=256, epochs=1, out_dir=tmp_path / "r", logdir=tmp_path / "l",
                    progress=False, embedding="none")
    compare(config, [0, 1], variants=variants, domains=digits_domains)
    with pytest.raises(RunFolderError, match=r"4 of the 4 runs already exist .* and 3 more\): add --resume"):
        compare(config, [0, 1], variants=variants, domains=digits_domains)
    # an interrupted comparison: one run never started, one left nothing but its folder
    shutil.rmtree(tmp_path / "r" / "digits_dann_schedule_seed1")
    shutil.rmtree(tmp_path / "r" / "digits_dann_schedule_seed0" / "checkpoints")
    capsys.readouterr()
    result = compare(Config(**{**config.__dict__, "resume": True}), [0, 1], variants=variants,
                     domains=digits_domains)
    assert [len(runs) for runs in result.results.values()] == [2, 2]
    assert "(n=" not in result.table and "±" in result.table


def test_one_seed_says_n_1_instead_of_a_zero_spread(tmp_path, digits_domains):
    variants = (("source-only", "source-only", None),)
    config = Config(filters=(4, 8), batch_size=256, epochs=1, out_dir=tmp_path / "r", logdir=tmp_path / "l",
                    progress=False, embedding="none")
    table = compare(config, [3], variants=variants, domains=digits_domains).table
    assert "± 0.000" not in table and "±" not in table and table.count("(n=1)") == 3


# --- cases 4 and 6: hostile BSDS500 archives -----------------------------------------------------
def _mnist_mode(tmp_path, monkeypatch, archive: bytes) -> tuple[list[str], Path]:
    import utilities.domain_adaptation.domains as domains_module

    digits = load_image_set("digits")
    monkeypatch.setattr(domains_module, "load_image_set", lambda name, **kw: digits)
    data = tmp_path / "data"
    data.mkdir()
    (data / ARCHIVE_NAME).write_bytes(archive)
    return ["--dataset", "mnist", "--data-dir", str(data), *_args(tmp_path)], data


def _corrupt_middle(data: bytes) -> bytes:
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    return bytes(broken)


def test_a_corrupt_gzip_stream_is_one_line_and_nothing_is_cached(tmp_path, monkeypatch, capsys):
    args, data = _mnist_mode(tmp_path, monkeypatch, _corrupt_middle(bsr_archive_bytes()))
    assert domain_adaptation.main(args) == 1
    err = _one_line(capsys.readouterr().err)
    assert str(data / ARCHIVE_NAME) in err and "corrupt or truncated" in err and "delete it" in err
    assert sorted(p.name for p in data.iterdir()) == [ARCHIVE_NAME]  # no mnistm.npz, partial or not
    assert not (tmp_path / "r" / "mnist_dann_schedule_seed0" / "checkpoints").exists()


@pytest.mark.parametrize("count", [2, TRAIN_PHOTOS - 1])
def test_an_archive_with_the_wrong_number_of_training_photos_is_refused(tmp_path, count):
    (tmp_path / ARCHIVE_NAME).write_bytes(bsr_archive_bytes(train_photos=count))
    with pytest.raises(PhotosUnavailable, match=f"holds {count} training photos .*, not the 200 of BSR_bsds500"):
        load_mnistm(_fake_mnist(), tmp_path, progress=False)
    assert not (tmp_path / CACHE_NAME).exists()


def _huge_member_archive() -> bytes:
    """A gzipped tar whose first training photo declares 2 GiB (its data absent: a reader that reads it
    first would fail later, or fill the memory with a real one)."""
    info = tarfile.TarInfo(TRAIN_PREFIX + "100000.jpg")
    info.size = 2 << 30
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024, mtime=0)


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (an 8-bit RGB picture), with a tiny data stream."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_a_2_gib_member_is_refused_before_it_is_read(tmp_path, monkeypatch, capsys):
    args, data = _mnist_mode(tmp_path, monkeypatch, _huge_member_archive())
    assert domain_adaptation.main(args) == 1
    err = _one_line(capsys.readouterr().err)
    assert "100000.jpg' is 2048 MB, over the " + f"{MAX_PHOTO_BYTES >> 20} MB limit" in err
    assert not (data / CACHE_NAME).exists()


@pytest.mark.parametrize("side, says", [(60000, "over 179 megapixels"), (12000, "144 megapixels")])
def test_a_giant_picture_is_refused_from_its_header(tmp_path, monkeypatch, capsys, side, says):
    giant = {TRAIN_PREFIX + "999999.jpg": _png_header(side, side)}  # a PNG named .jpg: the header decides
    args, data = _mnist_mode(tmp_path, monkeypatch, bsr_archive_bytes(train_photos=TRAIN_PHOTOS - 1, extra=giant))
    assert domain_adaptation.main(args) == 1
    err = _one_line(capsys.readouterr().err)
    assert "999999.jpg has " + says + ", over the 100-megapixel limit" in err
    assert not (data / CACHE_NAME).exists()


def test_a_photo_that_does_not_decode_refuses_the_archive(tmp_path):
    broken = {TRAIN_PREFIX + "999999.jpg": b"\xff\xd8\xff\xe0 not really a JPEG"}
    (tmp_path / ARCHIVE_NAME).write_bytes(bsr_archive_bytes(train_photos=TRAIN_PHOTOS - 1, extra=broken))
    with pytest.raises(PhotosUnavailable, match="999999.jpg is not a readable photo"):
        load_mnistm(_fake_mnist(), tmp_path, progress=False)
    assert not (tmp_path / CACHE_NAME).exists()


# --- case 9: a damaged mnistm.npz is rebuilt -----------------------------------------------------
def _damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_shapes(path: Path) -> None:
    with np.load(path) as f:
        arrays = dict(f)
    arrays["x_train"] = arrays["x_train"][..., 0]   # right keys, grey images
    np.savez(path, **arrays)


def _damage_labels_dtype(path: Path) -> None:
    with np.load(path) as f:
        arrays = dict(f)
    arrays["y_test"] = arrays["y_test"].astype(np.float32)
    np.savez(path, **arrays)


def _damage_length(path: Path) -> None:
    with np.load(path) as f:
        arrays = dict(f)
    arrays["x_test"], arrays["y_test"] = arrays["x_test"][:2], arrays["y_test"][:2]
    np.savez(path, **arrays)


@pytest.mark.parametrize("damage, says", [(_damage_truncate, "is unreadable"),
                                          (_damage_shapes, "holds x_train of shape (12, 28, 28)"),
                                          (_damage_labels_dtype, "holds y_test of shape (5,) and type float32"),
                                          (_damage_length, "holds x_test of shape (2, 28, 28, 3)")])
def test_a_damaged_cache_is_rebuilt_with_a_one_line_note(tmp_path, capsys, damage, says):
    (tmp_path / ARCHIVE_NAME).write_bytes(bsr_archive_bytes())
    mnist = _fake_mnist()
    first = load_mnistm(mnist, tmp_path, progress=False)
    assert capsys.readouterr().err == ""
    damage(tmp_path / CACHE_NAME)
    rebuilt = load_mnistm(mnist, tmp_path, progress=False)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"note: {tmp_path / CACHE_NAME} {says}") and "rebuilding" in err
    np.testing.assert_array_equal(rebuilt.x_train, first.x_train)  # the same seeded build
    np.testing.assert_array_equal(rebuilt.x_test, first.x_test)
    again = load_mnistm(mnist, tmp_path, progress=False)   # and the rebuilt cache is good
    assert capsys.readouterr().err == "" and np.array_equal(again.x_test, first.x_test)


# --- case 11: output folders that cannot be written ----------------------------------------------
def test_output_folders_that_are_files_are_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for flag in ("--out", "--logdir"):
        args = [*TINY, "--out", str(tmp_path / "r"), "--logdir", str(tmp_path / "l"), flag, str(tmp_path / "afile")]
        assert domain_adaptation.main(args) == 2
        err = _one_line(capsys.readouterr().err)
        assert err.startswith(f"error: {flag} {tmp_path / 'afile'}: ") and "is a file, not a folder" in err
    assert domain_adaptation.main(["--dataset", "mnist", "--data-dir", str(tmp_path / "afile" / "sub"),
                                   *_args(tmp_path)]) == 2
    assert _one_line(capsys.readouterr().err).startswith("error: --data-dir ")
    assert not list((tmp_path / "r").glob("*"))  # no run folder was started


def test_a_read_only_or_full_output_folder_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    real_mkstemp = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # tests may run as root, for whom chmod forbids nothing
        if dir is not None and Path(dir) == out:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert domain_adaptation.main(_args(tmp_path)) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"error: --out {out}: cannot write there (Permission denied)")
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, (1 << 30) - (1 << 20), 1 << 20))
    assert domain_adaptation.main(_args(tmp_path)) == 2
    err = _one_line(capsys.readouterr().err)
    assert "--out " in err and "only 1 MB free on that disk" in err
    assert not (out / "digits_dann_schedule_seed0").exists()


def test_a_full_disk_while_checkpointing_is_one_line_and_leaves_the_previous_epoch_in_charge(tmp_path, monkeypatch,
                                                                                              capsys):
    original = tf.train.CheckpointManager.save

    def disk_fills_at_epoch_2(self, checkpoint_number=None, **kwargs):
        if checkpoint_number == 2:  # what TensorFlow does: a temporary shard, then ENOSPC as RESOURCE_EXHAUSTED
            temp = Path(self.directory) / "ckpt-2_temp"
            temp.mkdir()
            (temp / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 100)
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        return original(self, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", disk_fills_at_epoch_2)
    args = _args(tmp_path, "--epochs", "3")
    assert domain_adaptation.main(args) == 1
    err = _one_line(capsys.readouterr().err)
    assert "is full" in err and "--resume continues from epoch 1" in err
    checkpoints = tmp_path / "r" / "digits_dann_schedule_seed0" / "checkpoints"
    assert not list(checkpoints.glob("ckpt-2*")) and tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-1")
    monkeypatch.setattr(tf.train.CheckpointManager, "save", original)
    assert domain_adaptation.main([*args, "--resume"]) == 0   # and the run continues once there is room
    assert "epoch 2/3" in capsys.readouterr().out


def test_a_full_disk_while_writing_a_figure_is_one_line_and_nothing_half_written(tmp_path, monkeypatch, capsys):
    def savefig_fills_the_disk(self, fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device", str(fname))

    monkeypatch.setattr(Figure, "savefig", savefig_fills_the_disk)
    assert domain_adaptation.main(_args(tmp_path)) == 1
    err = _one_line(capsys.readouterr().err)
    assert "is full (No space left on device); free some space" in err
    run = tmp_path / "r" / "digits_dann_schedule_seed0"
    assert not (run / "features.png").exists()
    assert not [p for p in run.rglob("*") if p.name.startswith(".") and p.name != LOCK_NAME]  # no temporary files
    assert (run / "metrics.csv").read_text().count("\n") == 2   # header + the epoch, complete


def test_non_finite_features_never_reach_tsne(tmp_path):
    from utilities.domain_adaptation.feature_plot import embed
    with pytest.raises(ValueError, match="not finite"):
        embed(np.full((20, 4), np.nan, np.float32), "tsne", 0)
