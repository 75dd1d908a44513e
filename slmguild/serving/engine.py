"""The embedded engine: llama.cpp's server running inside this process (`xllamacpp`).

One engine per base GGUF, loaded once, with every adapter of that base registered at
load time and chosen per request (a scale for every loaded adapter on every request),
so memory is base + sum(adapters), not one model per expert. Engines start lazily on
the first request, listen on a free loopback port (the `openai` backend can use it),
and stop when the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from slmguild.config import EngineConfig
from slmguild.errors import BackendUnavailable, ModelUnavailable, SlmguildError
from slmguild.serving.adapters import check_adapter_base

log = logging.getLogger("slmguild.serving")

_DONE = object()


class EngineError(SlmguildError):
    """A request the engine refused (e.g. a prompt longer than the context)."""


class EmbeddedEngine:
    """A llama.cpp server for one base model and its LoRA adapters, in this process."""

    def __init__(self, model_path: Path, config: EngineConfig | None = None) -> None:
        self.model_path = Path(model_path)
        self.config = config or EngineConfig()
        self._adapters: list[Path] = []
        self._server: Any = None
        self._lock = threading.Lock()

    # -- adapters ---------------------------------------------------------------------

    @property
    def adapters(self) -> tuple[Path, ...]:
        """The LoRA adapters registered on this engine, in id order."""
        return tuple(self._adapters)

    def register_adapter(self, adapter: str | Path, base_sha256: str | None = None) -> None:
        """Load `adapter` alongside the base (at start-up, or by a restart if running).

        An adapter trained on another base is refused (`AdapterMismatch`): the one it
        records, or `base_sha256` (the guild file's `adapter_base`), must be this base's.
        """
        adapter = Path(adapter).resolve()
        if adapter in self._adapters:
            return
        if not adapter.is_file():
            raise ModelUnavailable(f"adapter file not found: {adapter}")
        check_adapter_base(adapter, self.model_path, base_sha256)
        with self._lock:
            self._adapters.append(adapter)
            if self._server is not None:
                # llama.cpp fixes the adapter list at load time; a late adapter costs a reload.
                log.warning("reloading %s to add adapter %s", self.model_path.name, adapter.name)
                self._server = None

    def lora_scales(self, adapter: str | Path | None, scale: float = 1.0) -> list[dict[str, Any]]:
        """llama-server's per-request `lora` field: `scale` for `adapter`, 0 for the others.

        Every loaded adapter gets an entry, because an adapter left out of a request
        keeps whatever scale it had, which would leak one expert into another.
        """
        chosen = Path(adapter).resolve() if adapter is not None else None
        return [
            {"id": index, "scale": scale if path == chosen else 0.0}
            for index, path in enumerate(self._adapters)
        ]

    # -- lifecycle --------------------------------------------------------------------

    @property
    def server(self) -> Any:
        """The running `xllamacpp.Server`, started on first use."""
        if self._server is None:
            with self._lock:
                if self._server is None:
                    self._server = self._start()
        return self._server

    @property
    def url(self) -> str:
        """Base URL of the engine's OpenAI-compatible HTTP endpoint (`.../v1`)."""
        return f"{self.server.listening_address}/v1"

    def _start(self) -> Any:
        import xllamacpp

        if not self.model_path.is_file():
            raise ModelUnavailable(f"model file not found: {self.model_path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = self.config.n_ctx
        params.n_parallel = self.config.parallel
        params.cache_ram_mib = self.config.prompt_cache_mib
        threads = self.config.threads or os.cpu_count() or 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # Chat and embeddings from one loaded model: mean pooling is what OpenAI's
        # embeddings route accepts, and measured here it costs generation nothing.
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        params.verbosity = -1 if not log.isEnabledFor(logging.DEBUG) else 1
        params.lora_adapters = [
            xllamacpp.CommonAdapterLoraInfo(str(path), 0.0) for path in self._adapters
        ]
        params.port = _usable_port(self.config.port)
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise ModelUnavailable(
                f"the embedded engine could not load {self.model_path}: {exc} "
                "(is it a valid GGUF file? run with --debug for llama.cpp's log)"
            ) from None
        log.info("embedded engine for %s at %s", self.model_path.name, server.listening_address)
        return server

    def stop(self) -> None:
        """Stop the engine and free its memory; the next request starts it again."""
        with self._lock:
            self._server = None

    # -- requests ---------------------------------------------------------------------

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """One OpenAI-style chat completion, in-process."""
        server = self.server
        try:
            response = server.handle_chat_completions({**request, "stream": False})
        except Exception as exc:  # llama.cpp's server failed, not the request  # noqa: BLE001
            raise self._crashed(server, exc) from None
        return _checked(response)

    def stream_chat(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """OpenAI-style completion chunks as the engine produces them."""
        chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop = self._generate_beside(request, chunks.put)
        try:
            while (chunk := chunks.get()) is not _DONE:
                yield _checked(chunk)
        finally:
            stop.set()

    async def astream_chat(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """`stream_chat` for asyncio: the event loop is never blocked by generation."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        stop = self._generate_beside(
            request, lambda item: loop.call_soon_threadsafe(chunks.put_nowait, item)
        )
        try:
            while (chunk := await chunks.get()) is not _DONE:
                yield _checked(chunk)
        finally:
            stop.set()

    def _generate_beside(self, request: dict[str, Any], put: Callable[[Any], object]) -> threading.Event:
        """Stream `request` on a thread of its own, `put`ting each chunk, then `_DONE`.

        The engine's call blocks until generation ends, so it runs beside the consumer;
        an error is `put` as an error response and raised in the consumer's thread.
        Setting the returned event stops generation at the next token: a truthy return
        from the engine's callback cancels the request.
        """
        server = self.server
        stop = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            put(chunk)
            return stop.is_set()

        def produce() -> None:
            try:
                result = server.handle_chat_completions({**request, "stream": True}, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    put(result)
            except Exception as exc:  # llama.cpp's server failed, not the request  # noqa: BLE001
                put(self._crashed(server, exc))
            finally:
                put(_DONE)

        threading.Thread(target=produce, name="slmguild-engine-stream", daemon=True).start()
        return stop

    def _crashed(self, server: Any, exc: Exception) -> BackendUnavailable:
        """Forget a server that failed, so that the next request starts a fresh one."""
        with self._lock:
            if self._server is server:
                self._server = None
        log.error("the embedded engine for %s failed: %s", self.model_path.name, exc)
        return BackendUnavailable(
            f"the embedded engine for {self.model_path.name} failed in the middle of an answer ({exc}); "
            "the turn was not saved, and the engine restarts on the next request"
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled embeddings of `texts` from the loaded model."""
        response = _checked(self.server.handle_embeddings({"input": list(texts)}))
        ordered = sorted(response["data"], key=lambda item: item["index"])
        return [item["embedding"] for item in ordered]


def _checked(response: Any) -> dict[str, Any]:
    """`response`, or the error it carries raised (an exception put by `_generate_beside`)."""
    if isinstance(response, Exception):
        raise response
    if isinstance(response, dict) and "error" in response:
        error = response["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise EngineError(f"the embedded engine refused the request: {message}")
    return response


def _usable_port(port: int) -> int:
    """`port` if it is free on loopback, else 0 (the engine picks a free one)."""
    if port == 0:
        return 0
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            log.warning("port %d is taken; the embedded engine picks a free one", port)
            return 0
    return port


_engines: dict[tuple[Path, str], EmbeddedEngine] = {}
_engines_lock = threading.Lock()


def engine_for(model_path: Path, config: EngineConfig | None = None) -> EmbeddedEngine:
    """The process-wide engine of a base model with these settings (created on first
    call, started on first use): experts that share both share one engine."""
    path = Path(model_path).resolve()
    key = (path, (config or EngineConfig()).model_dump_json())
    with _engines_lock:
        if key not in _engines:
            _engines[key] = EmbeddedEngine(path, config)
        return _engines[key]


@atexit.register
def stop_all() -> None:
    """Stop every embedded engine of this process (also runs at exit)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.stop()
        _engines.clear()

