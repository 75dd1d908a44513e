"""A model server that fails on purpose, for fault-injection tests: it speaks both the
OpenAI-compatible API (`/v1/chat/completions`, SSE) and Ollama's (`/api/chat`, JSON lines).

Each chat request takes the next behaviour of `script` (the last one repeats): `ok`
answers "Recovered." (streamed or not), `500` fails, `hang` answers after `hang_s`,
`die` streams two pieces and drops the connection mid-answer.
"""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackHandler, LoopbackServer

WORDS = ["Recov", "ered", "."]


class FaultyServer(LoopbackServer):
    """Answers each chat request with the next behaviour of `script`, counting requests."""

    def __init__(self, script: list[str], hang_s: float = 5.0) -> None:
        self.script = list(script)
        self.hang_s = hang_s
        self.requests = 0
        self.authorizations: list[str | None] = []  # the Authorization header of each request
        super().__init__(_handler_for(self))

    def url(self, backend: str) -> str:
        """The URL a guild's `backend` is given for this server."""
        return f"{self.root}/v1" if backend == "openai" else self.root

    def next_behaviour(self) -> str:
        self.requests += 1
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class OpenAIShapes:
    """The bodies of OpenAI's chat completions route."""

    stream_type = "text/event-stream"

    @staticmethod
    def error() -> dict[str, Any]:
        return {"error": {"message": "model crashed", "type": "server_error"}}

    @staticmethod
    def chunk(content: str, last: bool = False) -> bytes:
        body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "big",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": "stop" if last else None}]}
        return f"data: {json.dumps(body)}\n\n".encode() + (b"data: [DONE]\n\n" if last else b"")

    @staticmethod
    def answer(content: str) -> dict[str, Any]:
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "big",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}}


class OllamaShapes:
    """The bodies of Ollama's `/api/chat` (its API reference)."""

    stream_type = "application/x-ndjson"

    @staticmethod
    def error() -> dict[str, Any]:
        return {"error": "model crashed"}

    @staticmethod
    def answer(content: str, done: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"model": "big", "created_at": "2026-01-01T00:00:00Z",
                                "message": {"role": "assistant", "content": content}, "done": done}
        if done:
            body |= {"done_reason": "stop", "prompt_eval_count": 1, "eval_count": 3}
        return body

    @classmethod
    def chunk(cls, content: str, last: bool = False) -> bytes:
        return json.dumps(cls.answer(content, done=last)).encode() + b"\n"


def _handler_for(server: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            shapes = OllamaShapes if self.path == "/api/chat" else OpenAIShapes
            server.authorizations.append(self.headers.get("Authorization"))
            behaviour = server.next_behaviour()
            if behaviour == "500":
                self.send_json(500, shapes.error())
            elif behaviour == "hang":
                time.sleep(server.hang_s)
            elif request.get("stream", shapes is OllamaShapes):  # Ollama streams unless told not to
                self.start_chunks(shapes.stream_type)
                words = WORDS[:2] if behaviour == "die" else WORDS
                for word in words:
                    self.send_chunk(shapes.chunk(word))
                if behaviour == "die":  # no final chunk: the connection ends mid-answer
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_chunk(shapes.chunk("", last=True))
                self.end_chunks()
            else:
                self.send_json(200, shapes.answer("".join(WORDS)))

    return Handler
