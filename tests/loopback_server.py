"""A tiny HTTP server on 127.0.0.1 serving canned responses, for download tests."""
from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_length: int | None = None  # lie about the length to simulate a cut-off body


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}
    hits: dict[str, int] = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        route = self.routes.get(self.path, Route(b"not found", 404))
        self.send_response(route.status)
        length = route.content_length if route.content_length is not None else len(route.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(routes: dict[str, Route]) -> Iterator[tuple[str, dict[str, int]]]:
    """Serve `routes` (path -> Route); yield the base URL and a hit counter per path."""
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.hits
    finally:
        server.shutdown()
        server.server_close()
