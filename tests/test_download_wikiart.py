"""The WikiArt downloader against a loopback HTTP server, plus the style-name table."""
from __future__ import annotations

import collections
import csv
import gzip
import http.server
import os
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from utilities.wikiart import download as dw
from utilities.wikiart.styles import STYLE_NAMES, class_names, style_name

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CSV = ROOT / "utilities" / "wikiart" / "wikiart.csv.gz"
SLOW_RESPONSE_S = 3.0
HANG_S = 20.0  # longer than the Ctrl-C test waits
CLIENT_TIMEOUT_S = 1.0  # generous: the CI machine may be busy


def _jpeg(name: str) -> bytes:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    image = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (32, 24))
    return cv2.imencode(".jpg", image)[1].tobytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Path "/<mode>/<file>" picks the behaviour; every request is counted per path."""

    def do_GET(self):  # noqa: N802 (http.server API)
        server = self.server
        with server.lock:
            server.requests[self.path] += 1
            count = server.requests[self.path]
        mode = self.path.split("/")[1]
        body = _jpeg(self.path)
        if mode == "missing":
            return self._reply(404, b"not found", "text/plain")
        if mode == "error500" or (mode == "flaky500" and count == 1):
            return self._reply(500, b"oops", "text/plain")
        if mode == "html":
            return self._reply(200, b"<html>rate limited</html>", "text/html")
        if mode == "png":
            body = cv2.imencode(".png", np.full((20, 30), 200, np.uint8))[1].tobytes()
        if mode == "slow":
            time.sleep(SLOW_RESPONSE_S)
        if mode == "hang":
            time.sleep(HANG_S)
        if mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._reply(200, body, "image/jpeg")

    def _reply(self, code, body, content_type):
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (slow response)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.requests = collections.Counter()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


MODES = ["ok"] * 8 + ["png", "flaky500", "missing", "error500", "truncated", "html", "slow"]
EXPECTED_FAILURES = {  # mode -> (reason, attempts with --retries 1)
    "missing": ("HTTP 404", 1),
    "error500": ("HTTP 500", 2),
    "truncated": ("truncated", 2),
    "html": ("not an image", 1),
    "slow": ("timeout", 2),
}


def _write_csv(path: Path) -> list[dict]:
    rows = []
    for i, mode in enumerate(MODES):
        image_id = f"artist-{i}_{mode}-painting-{i}"
        rows.append({
            "image_id": image_id,
            "page_url": f"http://www.wikiart.org/en/artist-{i}/{mode}-painting-{i}",
            "image_url": f"http://uploads{i % 3}.wikiart.org/images/{mode}/{image_id}.jpg",
            "label": str(i % 3),
            "_split": "test" if i % 4 == 0 else "train",
        })
    with gzip.open(path, "wt", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image_id", "page_url", "image_url", "label",
                                                    "_split"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _run(csv_path: Path, out_dir: Path, port: int, *extra: str) -> int:
    return dw.main([
        "--csv", str(csv_path), "--out-dir", str(out_dir), "--limit", "0",
        "--workers", "4", "--timeout", str(CLIENT_TIMEOUT_S), "--retries", "1",
        "--backoff", "0.01", "--no-progress",
        "--url-rewrite", r"^http://uploads\d+\.wikiart\.org/images/", f"http://127.0.0.1:{port}/",
        *extra,
    ])


def _read_list(path: Path) -> list[tuple[str, int]]:
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines()]


def test_download_lists_failures_and_resume(tmp_path, server, capsys):
    csv_path = tmp_path / "mini.csv.gz"
    rows = _write_csv(csv_path)
    out_dir = tmp_path / "data"
    port = server.server_address[1]

    assert _run(csv_path, out_dir, port) == 0
    printed = capsys.readouterr().out

    # Lists: the original's order (legacy seed-0 permutation), failures dropped, split by _split.
    np.random.seed(0)
    order = np.random.permutation(len(rows))
    kept = [rows[i] for i in order if rows[i]["image_id"].split("_")[1].split("-")[0]
            not in EXPECTED_FAILURES]
    for split in ("train", "test"):
        expected = [(f"images/{r['image_id']}.jpg", int(r["label"])) for r in kept
                    if r["_split"] == split]
        assert _read_list(out_dir / f"{split}.txt") == expected
    images = out_dir / "images"
    assert sorted(p.name for p in images.iterdir()) == sorted(f"{r['image_id']}.jpg" for r in kept)

    # Failures: reason and attempts per kind, and 404 / non-images were not retried.
    with open(out_dir / "failures.tsv") as handle:
        failures = {r["image_id"].split("_")[1].split("-")[0]: r
                    for r in csv.DictReader(handle, delimiter="\t")}
    assert {mode: (r["reason"], int(r["attempts"])) for mode, r in failures.items()} == \
        EXPECTED_FAILURES
    assert f"{len(MODES)} images: {len(kept)} downloaded, 0 already present, " \
           f"{len(EXPECTED_FAILURES)} failed" in printed
    assert "  timeout            1" in printed and "  HTTP 404           1" in printed
    requests = server.requests
    assert sum(n for p, n in requests.items() if p.startswith("/missing/")) == 1
    assert sum(n for p, n in requests.items() if p.startswith("/flaky500/")) == 2

    # Resume: valid files are not fetched again, a corrupted one and the failures are;
    # a temporary left by a killed run is cleaned up.
    before = collections.Counter(requests)
    victim = kept[0]["image_id"]
    (images / f"{victim}.jpg").write_bytes(b"\xff\xd8\xff half a jpeg")
    (images / f".{victim}.k1ll3d.jpg").write_bytes(b"partial")
    assert _run(csv_path, out_dir, port) == 0
    printed = capsys.readouterr().out
    new = requests - before
    fetched_modes = sorted(path.split("/")[1] for path in new)
    assert sorted(set(fetched_modes)) == sorted(set(EXPECTED_FAILURES) | {
        victim.split("_")[1].split("-")[0]})
    assert sum(p.endswith(f"/{victim}.jpg") for p in new) == 1
    assert f"{len(kept) - 1} already present" in printed
    assert not [p for p in images.iterdir() if p.name.startswith(".")]
    assert _read_list(out_dir / "train.txt") + _read_list(out_dir / "test.txt") != []


def test_all_failed_writes_no_lists(tmp_path, server, capsys):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("image_id,page_url,image_url,label,_split\n"
                        "a_b,p,http://uploads1.wikiart.org/images/missing/a.jpg,0,train\n")
    assert _run(csv_path, tmp_path / "out", server.server_address[1]) == 1
    assert "lists were not written" in capsys.readouterr().err
    assert not (tmp_path / "out" / "train.txt").exists()
    assert (tmp_path / "out" / "failures.tsv").read_text().count("\n") == 2


def test_backoff_doubles_and_stops_after_retries(tmp_path, server):
    painting = dw.Painting("x_y", f"http://127.0.0.1:{server.server_address[1]}/error500/x.jpg",
                           0, "train")
    delays = []
    outcome = dw.fetch_painting(painting, tmp_path, timeout=2, retries=3, backoff=1.0,
                                sleep=delays.append)
    assert (outcome.status, outcome.reason, outcome.attempts) == ("failed", "HTTP 500", 4)
    assert len(delays) == 3
    for delay, base in zip(delays, (1.0, 2.0, 4.0), strict=True):
        assert base <= delay <= 1.25 * base
    assert not list(tmp_path.iterdir())


def test_shipped_csv_subset_matches_the_original_shuffle():
    paintings = dw.read_paintings(SHIPPED_CSV)
    assert len(paintings) == 10_000
    assert collections.Counter(p.label for p in paintings) == {k: 1000 for k in range(10)}
    chosen = dw.choose_paintings(paintings, seed=0, limit=4005)
    np.random.seed(0)  # the original's calls, verbatim in spirit: seed, then permutation
    expected = np.random.permutation(len(paintings))[:4005]
    assert [p.image_id for p in chosen] == [paintings[i].image_id for i in expected]
    assert len(dw.choose_paintings(paintings, limit=0)) == 10_000


@pytest.mark.parametrize("content, message", [
    ("image_id,label,_split\nx,0,train\n", "missing column(s) image_url"),
    ("image_id,page_url,image_url,label,_split\nx_y,p,u,zero,train\n", ":2: label 'zero'"),
    ("image_id,page_url,image_url,label,_split\nx_y,p,u,0,val\n", ":2: _split 'val'"),
    ("image_id,page_url,image_url,label,_split\n../x,p,u,0,train\n", "not a safe file name"),
])
def test_bad_csv_is_reported_with_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(dw.CsvError, match=None) as info:
        dw.read_paintings(path)
    assert message in str(info.value) and str(path) in str(info.value)
    with pytest.raises(dw.CsvError, match="CSV not found"):
        dw.read_paintings(tmp_path / "nope.csv.gz")


@pytest.mark.parametrize("command", [
    [sys.executable, "utilities/download_wikiart.py", "--help"],
    [sys.executable, "-m", "utilities.wikiart.download", "--help"],
])
def test_both_command_lines_work(command):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--url-rewrite" in result.stdout and "--limit" in result.stdout


# ----------------------------------------------------------------------------- style names

def test_style_table_agrees_with_the_artists_in_the_csv():
    """Each label's style must be the home of artists whose style is not in doubt."""
    known = {
        "alphonse-mucha": "Art Nouveau (Modern)", "rembrandt": "Baroque",
        "ernst-ludwig-kirchner": "Expressionism", "claude-monet": "Impressionism",
        "jacques-louis-david": "Neoclassicism", "paul-cezanne": "Post-Impressionism",
        "gustave-courbet": "Realism", "eugene-delacroix": "Romanticism",
        "rene-magritte": "Surrealism", "odilon-redon": "Symbolism",
    }
    counts = collections.defaultdict(collections.Counter)
    for painting in dw.read_paintings(SHIPPED_CSV):
        counts[painting.image_id.split("_")[0]][painting.label] += 1
    found = {artist: style_name(counts[artist].most_common(1)[0][0]) for artist in known}
    assert found == known
    assert sorted(STYLE_NAMES) == list(STYLE_NAMES) and len(set(STYLE_NAMES)) == 10


def test_style_name_rejects_bad_labels():
    assert style_name(np.int64(3)) == "Impressionism"
    for bad in (-1, 10, 2.0, "2", True):
        with pytest.raises(ValueError, match="0..9"):
            style_name(bad)
    assert class_names(10) == list(STYLE_NAMES)
    assert class_names(3) == ["class 0", "class 1", "class 2"]


def test_unreachable_hosts_stop_early(tmp_path):
    import socket

    with socket.socket() as probe:  # a port with nobody listening: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    paintings = [dw.Painting(f"a_{i}", f"http://127.0.0.1:{port}/{i}.jpg", 0, "train")
                 for i in range(40)]
    with pytest.raises(dw.NetworkDownError, match="first 3 images all failed"):
        dw.download_paintings(paintings, tmp_path, workers=1, retries=0, give_up_after=3,
                              progress=False)


def test_the_command_prints_no_tensorflow_start_up_lines(tmp_path):
    """The decode check imports TensorFlow; its CUDA probe must not reach the terminal."""
    import cv2

    from tests.loopback_server import Route, serve

    ok, png = cv2.imencode(".png", np.full((20, 20, 3), 128, np.uint8))
    csv_path = tmp_path / "one.csv"
    csv_path.write_text("image_id,page_url,image_url,label,_split\n"
                        "a-b_c,http://p,http://uploads1.wikiart.org/images/x.png,0,train\n")
    with serve({"/x.png": Route(png.tobytes())}) as (base, hits):
        result = subprocess.run(
            [sys.executable, "utilities/download_wikiart.py", "--csv", str(csv_path), "--out-dir",
             str(tmp_path / "data"), "--limit", "0", "--no-progress", "--url-rewrite",
             r"^http://uploads\d+\.wikiart\.org/images/", f"{base}/"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.returncode == 0 and hits["/x.png"] == 1, result.stderr
    assert "Wrote" in result.stdout
    assert not any(word in result.stderr for word in ("cuInit", "cuda", "I0000", "E0000")), result.stderr


def test_ctrl_c_stops_within_seconds(tmp_path, server):
    """Downloads blocked in a slow server must not keep the command alive after Ctrl-C."""
    import signal

    csv_path = tmp_path / "hang.csv"
    rows = [f"a-b_{i},http://p,http://uploads1.wikiart.org/images/hang/{i}.jpg,0,train" for i in range(4)]
    csv_path.write_text("image_id,page_url,image_url,label,_split\n" + "\n".join(rows) + "\n")
    port = server.server_address[1]
    process = subprocess.Popen(
        [sys.executable, "utilities/download_wikiart.py", "--csv", str(csv_path), "--out-dir", str(tmp_path / "data"),
         "--limit", "0", "--workers", "4", "--timeout", "60", "--no-progress", "--url-rewrite",
         r"^http://uploads\d+\.wikiart\.org/images/", f"http://127.0.0.1:{port}/"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell runs background jobs (CI, nohup ... &) with SIGINT ignored, and children inherit
        # that; a user's terminal does not: give the command the default Ctrl-C behaviour
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert process.stdout.readline().startswith("Fetching 4 WikiArt images")
        deadline = time.monotonic() + 30
        while sum(server.requests.values()) < 4 and time.monotonic() < deadline:   # all four in flight
            time.sleep(0.05)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        process.kill()
    assert process.returncode == 130 and "Interrupted" in err, err[-2000:]
    assert elapsed < 5, f"took {elapsed:.1f} s to stop"
    assert not list((tmp_path / "data" / "images").glob("*.jpg"))      # nothing half-written under a final name

