"""A local HTTP server that speaks Ollama's documented API, answering with the real engine.

There is no Ollama binary on the test machines, so the `ollama` backend is tested
against this: the routes and response shapes of Ollama's API reference (`/api/chat`
streaming and not, `/api/embed`, `/api/tags`, `/api/create`, `/api/blobs/:digest`),
with generation done by slmguild's embedded llama.cpp engine.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from slmguild.serving.engine import EmbeddedEngine
from tests.loopback import LoopbackHandler, LoopbackServer


class OllamaLikeServer(LoopbackServer):
    """Serve `engine` under the Ollama tag `tag` on a free loopback port."""

    def __init__(self, engine: EmbeddedEngine, tag: str = "smollm2:135m") -> None:
        self.engine = engine
        self.models: dict[str, dict[str, Any]] = {tag: {"from": None}}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body) as received
        super().__init__(_handler_for(self))

    @property
    def url(self) -> str:
        return self.root


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _engine_request(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options") or {}
    request: dict[str, Any] = {"messages": body["messages"]}
    if "temperature" in options:
        request["temperature"] = options["temperature"]
    if "num_predict" in options:
        request["max_tokens"] = options["num_predict"]
    for key in ("top_p", "seed", "stop", "repeat_penalty"):
        if key in options:
            request[key] = options[key]
    fmt = body.get("format")
    if isinstance(fmt, dict):
        request["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt}}
    elif fmt == "json":
        request["response_format"] = {"type": "json_object"}
    return request


def _handler_for(server: OllamaLikeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send_ndjson(self, lines: Any) -> None:
            self.start_chunks("application/x-ndjson")
            for line in lines:
                self.send_chunk(json.dumps(line).encode() + b"\n")
            self.end_chunks()

        def do_HEAD(self) -> None:
            if self.path.startswith("/api/blobs/"):
                exists = self.path.rsplit("/", 1)[1] in server.blobs
                self.send_response(200 if exists else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_json(404, {"error": "not found"})

        def do_GET(self) -> None:
            server.requests.append(("GET", self.path, None))
            if self.path == "/api/tags":
                self.send_json(200, {"models": [_tag_entry(name) for name in server.models]})
            else:
                self.send_json(404, {"error": f"unknown route {self.path}"})

        def do_POST(self) -> None:
            raw = self._body()
            if self.path.startswith("/api/blobs/"):
                digest = self.path.rsplit("/", 1)[1]
                if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                    self.send_json(400, {"error": "digest mismatch"})
                    return
                server.blobs[digest] = raw
                server.requests.append(("POST", self.path, len(raw)))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.loads(raw or b"{}")
            server.requests.append(("POST", self.path, body))
            route = {"/api/chat": self._chat, "/api/embed": self._embed, "/api/create": self._create,
                     "/api/pull": self._pull}
            handler = route.get(self.path)
            if handler is None:
                self.send_json(404, {"error": f"unknown route {self.path}"})
            elif body.get("model") not in server.models and self.path not in ("/api/create", "/api/pull"):
                self.send_json(404, {"error": f"model '{body.get('model')}' not found"})
            else:
                handler(body)

        def _chat(self, body: dict[str, Any]) -> None:
            request = _engine_request(body)
            base = {"model": body["model"], "created_at": _now()}
            if body.get("stream", True):
                def lines() -> Any:
                    for chunk in server.engine.stream_chat(request):
                        choice = chunk["choices"][0]
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield {**base, "message": {"role": "assistant", "content": text}, "done": False}
                        if choice.get("finish_reason"):
                            timings = chunk.get("timings", {})
                            yield {
                                **base,
                                "message": {"role": "assistant", "content": ""},
                                "done": True,
                                "done_reason": choice["finish_reason"],
                                "prompt_eval_count": timings.get("prompt_n", 0),
                                "eval_count": timings.get("predicted_n", 0),
                            }
                self._send_ndjson(lines())
                return
            response = server.engine.chat(request)
            usage = response["usage"]
            self.send_json(200, {
                **base,
                "message": {"role": "assistant", "content": response["choices"][0]["message"]["content"]},
                "done": True,
                "done_reason": response["choices"][0]["finish_reason"],
                "prompt_eval_count": usage["prompt_tokens"],
                "eval_count": usage["completion_tokens"],
            })

        def _embed(self, body: dict[str, Any]) -> None:
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            self.send_json(200, {"model": body["model"], "embeddings": server.engine.embed(texts)})

        def _pull(self, body: dict[str, Any]) -> None:
            size = 101_000_000
            server.models[body["model"]] = {"from": None}
            self._send_ndjson([
                {"status": "pulling manifest"},
                {"status": "pulling 4f1ab3c2", "digest": "sha256:4f1ab3c2", "total": size, "completed": size // 2},
                {"status": "pulling 4f1ab3c2", "digest": "sha256:4f1ab3c2", "total": size, "completed": size},
                {"status": "verifying sha256 digest"},
                {"status": "success"},
            ])

        def _create(self, body: dict[str, Any]) -> None:
            # The base is a model the server has (`from`) or an uploaded GGUF (`files`).
            blobs = [*(body.get("adapters") or {}).values(), *(body.get("files") or {}).values()]
            missing = [digest for digest in blobs if digest not in server.blobs]
            has_base = body.get("from") in server.models or body.get("files")
            if missing or not has_base:
                self.send_json(400, {"error": f"missing blobs {missing} or base {body.get('from')}"})
                return
            server.models[body["model"]] = body
            statuses = [{"status": "using existing layer"}, {"status": "writing manifest"}, {"status": "success"}]
            if body.get("stream", True):
                self._send_ndjson(statuses)
            else:
                self.send_json(200, statuses[-1])

    return Handler


def _tag_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": _now(),
        "size": 101_000_000,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "135M",
            "quantization_level": "Q4_1",
        },
    }
