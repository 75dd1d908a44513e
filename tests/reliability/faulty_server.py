"""An OpenAI-compatible chat server that fails on purpose, for fault-injection tests.

Each request to `/v1/chat/completions` takes the next behaviour of `script` (the last
one repeats): `ok` answers "Recovered." (streamed or not), `500` fails, `hang` answers
after `hang_s`, `die` streams two chunks and drops the connection mid-answer.
"""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer, QuietHandler

WORDS = ["Recov", "ered", "."]


class FaultyServer(LoopbackServer):
    """Answers each chat request with the next behaviour of `script`, counting requests."""

    def __init__(self, script: list[str], hang_s: float = 5.0) -> None:
        self.script = list(script)
        self.hang_s = hang_s
        self.requests = 0
        super().__init__(_handler_for(self))

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def next_behaviour(self) -> str:
        self.requests += 1
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _chunk(content: str, finish: str | None = None) -> bytes:
    body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "big",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler_for(server: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # chunked streams: a dropped connection is visibly incomplete

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            behaviour = server.next_behaviour()
            if behaviour == "500":
                self._json(500, {"error": {"message": "model crashed", "type": "server_error"}})
            elif behaviour == "hang":
                time.sleep(server.hang_s)
            elif request.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                words = WORDS[:2] if behaviour == "die" else WORDS
                for word in words:
                    self._send_chunk(_chunk(word))
                if behaviour == "die":  # no final chunk: the connection ends mid-answer
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self._send_chunk(_chunk("", "stop") + b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self._json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "big",
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": "".join(WORDS)}}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}})

        def _send_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
