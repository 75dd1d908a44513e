"""Chat models and embeddings for a `ModelSpec`, on any of the three backends.

One interface, langchain-core's: every chat model streams (`stream`/`astream`) and
decodes under a JSON schema with `with_structured_output(schema, method="json_schema")`;
every embeddings object has `embed_documents`/`embed_query`.

- `embedded` (default): llama.cpp in this process; no server, no network.
- `ollama`: an Ollama server (`url:`, default localhost:11434).
- `openai`: any OpenAI-compatible server (llama-server, vLLM, LoRAX).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.runnables import Runnable

from slmguild.config import EngineConfig, Generation, ModelSpec
from slmguild.errors import BackendUnavailable, ModelUnavailable
from slmguild.serving import ollama_backend, openai_backend
from slmguild.serving.catalog import gguf_path
from slmguild.serving.embedded import EmbeddedChatModel, EmbeddedEmbeddings
from slmguild.serving.engine import EmbeddedEngine, EngineError, engine_for
from slmguild.serving.gate import RequestGate

__all__ = [
    "EmbeddedChatModel",
    "EmbeddedEmbeddings",
    "EmbeddedEngine",
    "EngineError",
    "backend_errors",
    "chat_model",
    "embedded_engine",
    "embeddings",
    "list_models",
    "sampled",
    "server_url",
]


def embedded_engine(spec: ModelSpec, engine: EngineConfig | None = None) -> EmbeddedEngine:
    """The process-wide embedded engine that serves the base model of `spec`."""
    return engine_for(gguf_path(spec.name or ""), engine)


def chat_model(spec: ModelSpec, engine: EngineConfig | None = None) -> BaseChatModel:
    """A chat model for `spec`; `engine` configures the embedded engine when it is used.

    Its requests pass the `gate`: switched off in tests unless they ask for real models.
    """
    model: BaseChatModel
    if spec.backend == "ollama":
        model = ollama_backend.chat_model(spec)
    elif spec.backend == "openai":
        model = openai_backend.chat_model(spec)
    else:
        model = EmbeddedChatModel(
            engine=embedded_engine(spec, engine),
            adapter=spec.adapter,
            adapter_scale=spec.adapter_scale,
            adapter_base=spec.adapter_base,
            generation=spec.generation or Generation(),
        )
    callbacks = model.callbacks if isinstance(model.callbacks, list) else []  # a model made just above
    model.callbacks = [*callbacks, RequestGate(f"{spec.backend}:{spec.name}")]
    return model


def capped(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of `model` that decodes greedily and at most `max_tokens` tokens, on any backend
    (the embedded engine's `generation`, or the client's own fields: `max_tokens` for OpenAI,
    `num_predict` for Ollama); a model with none of these (a test double) is returned as is."""
    if isinstance(model, EmbeddedChatModel):
        generation = model.generation.model_copy(update={"max_tokens": max_tokens, "temperature": 0.0})
        return model.model_copy(update={"generation": generation})
    fields = type(model).model_fields
    wanted = {"max_tokens": max_tokens, "num_predict": max_tokens, "temperature": 0.0}
    return model.model_copy(update={key: value for key, value in wanted.items() if key in fields})


def sampled(model: BaseChatModel, options: dict[str, Any]) -> Runnable[LanguageModelInput, Any]:
    """`model` with one request's sampling options (`temperature`, `top_p`, `seed`,
    `max_tokens`, `stop`, `response_format`: the OpenAI API's names and meanings).

    llama.cpp (the embedded engine, llama-server) and OpenAI-compatible servers take them
    as request fields, so they are bound to the request; Ollama's client reads its own
    fields instead (`num_predict`, `format`), so its model is copied with them set."""
    if "num_predict" not in type(model).model_fields:
        return model.bind(**options)
    fields = {"temperature": options.get("temperature"), "top_p": options.get("top_p"),
              "seed": options.get("seed"), "num_predict": options.get("max_tokens"), "stop": options.get("stop")}
    if (response_format := options.get("response_format")) is not None:
        schema = (response_format.get("json_schema") or {}).get("schema")
        fields["format"] = schema if schema is not None else "json"
    return model.model_copy(update={key: value for key, value in fields.items() if value is not None})


def embeddings(spec: ModelSpec, engine: EngineConfig | None = None) -> Embeddings:
    """Embeddings computed by the model of `spec` on its backend."""
    if spec.backend == "ollama":
        return ollama_backend.embeddings(spec)
    if spec.backend == "openai":
        return openai_backend.embeddings(spec)
    return EmbeddedEmbeddings(embedded_engine(spec, engine))


def list_models(spec: ModelSpec) -> list[str]:
    """The models that the server of `spec` offers (not for the embedded backend)."""
    with backend_errors(spec):
        if spec.backend == "ollama":
            return ollama_backend.list_models(spec)
        if spec.backend == "openai":
            return openai_backend.list_models(spec)
    raise ValueError("the embedded backend has no server to list: see `slmguild models list`")


def server_url(spec: ModelSpec) -> str | None:
    """The URL of the server behind `spec`, None for the embedded engine."""
    if spec.backend == "ollama":
        return ollama_backend.server_url(spec)
    if spec.backend == "openai":
        return openai_backend.server_url(spec)
    return None


@contextmanager
def backend_errors(spec: ModelSpec) -> Iterator[None]:
    """Turn a client library's connection and not-found errors into slmguild errors.

    The message names the URL and the model, so the user can tell a stopped server
    from a missing model.
    """
    try:
        yield
    except ConnectionError as exc:  # the ollama client's "failed to connect"
        raise BackendUnavailable(
            f"cannot reach the {spec.backend} server at {server_url(spec)}: is it running? "
            f"({_first_line(exc)})"
        ) from None
    except Exception as exc:
        translated = _translate(spec, exc)
        if translated is None:
            raise
        raise translated from None


def _translate(spec: ModelSpec, exc: Exception) -> Exception | None:
    # Only client libraries already imported can have raised: look them up, never import.
    url = server_url(spec)
    openai, ollama, httpx = (sys.modules.get(name) for name in ("openai", "ollama", "httpx"))
    retries = ollama_backend.RETRIES if spec.backend == "ollama" else openai_backend.RETRIES
    attempts = f"{1 + retries} attempts"
    timed_out = BackendUnavailable(
        f"the {spec.backend} server at {url} did not answer within {spec.timeout_s:g} s "
        f"({attempts}); raise `timeout_s` in the guild file if it is just slow"
    )
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):  # before its base class, APIConnectionError
            return timed_out
        if isinstance(exc, openai.APIConnectionError) and (broken := _broken_stream(exc)):
            return _broke_mid_answer(spec, broken)
        if isinstance(exc, openai.APIConnectionError):
            return BackendUnavailable(
                f"cannot reach the OpenAI-compatible server at {url}: is it running? "
                "(set `url:` in the guild file)"
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelUnavailable(f"the server at {url} has no model '{spec.name}'")
        if isinstance(exc, openai.AuthenticationError):
            return BackendUnavailable(
                f"the server at {url} rejected the API key (from ${spec.api_key_env})"
            )
        if isinstance(exc, openai.InternalServerError):
            return BackendUnavailable(
                f"the OpenAI-compatible server at {url} failed (HTTP {exc.status_code}, {attempts}): "
                f"{_first_line(exc)}"
            )
    if ollama is not None and isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404:
            tag = ollama_backend.model_tag(spec)
            return ModelUnavailable(
                f"the Ollama server at {url} has no model '{tag}': run `ollama pull {tag}`"
            )
        if exc.status_code >= 500:
            return BackendUnavailable(
                f"the Ollama server at {url} failed (HTTP {exc.status_code}, {attempts}): {exc.error}"
            )
    if httpx is not None and isinstance(exc, httpx.TimeoutException):
        return timed_out
    if broken := _broken_stream(exc):
        return _broke_mid_answer(spec, broken)
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return BackendUnavailable(f"cannot reach the {spec.backend} server at {url}: {exc}")
    return None


def _broken_stream(exc: BaseException | None) -> BaseException | None:
    """The transport error under `exc` if an answer was cut off. Clients wrap it (the
    openai client twice) and use httpx or its fork httpx2: matched by name, not class."""
    while exc is not None:
        if type(exc).__name__ in ("RemoteProtocolError", "ReadError"):
            return exc
        exc = exc.__cause__
    return None


def _broke_mid_answer(spec: ModelSpec, exc: BaseException) -> BackendUnavailable:
    return BackendUnavailable(
        f"the {spec.backend} server at {server_url(spec)} broke the connection in the middle of an "
        f"answer ({_first_line(exc)}); the turn was not saved: ask again once the server is back"
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
