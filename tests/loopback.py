"""Local HTTP servers for tests: a threaded server on a free loopback port, run by `with`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    """Serves `handler` on 127.0.0.1 at a free port while the `with` block runs."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        """`http://127.0.0.1:PORT`."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class LoopbackHandler(BaseHTTPRequestHandler):
    """A request handler for test servers: JSON and chunked replies, and no log line per
    request on stderr (the test output)."""

    protocol_version = "HTTP/1.1"  # chunked streams: a dropped connection is visibly incomplete

    def send_json(self, status: int, payload: Any) -> None:
        """A whole JSON reply with its length."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_chunks(self, content_type: str) -> None:
        """Begin a streamed (chunked) 200 reply; `send_chunk` each piece, then `end_chunks`."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        return
