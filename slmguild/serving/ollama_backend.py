"""The `ollama` backend: langchain-ollama's chat model and embeddings, the official client.

Ollama cannot hot-swap adapters, so an expert's adapter is served as its own model
tag (built from a Modelfile with `ADAPTER`, see `create_model`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from slmguild.config import Generation, ModelSpec
from slmguild.errors import ConfigError, require
from slmguild.serving.catalog import ollama_tag

DEFAULT_URL = "http://localhost:11434"
RETRIES = 2  # like the openai client's: after a 5xx, a timeout or a refused connection


def server_url(spec: ModelSpec) -> str:
    """The Ollama server of `spec`: its `url`, else `$OLLAMA_HOST`, else localhost:11434."""
    return spec.url or os.environ.get("OLLAMA_HOST") or DEFAULT_URL


def model_tag(spec: ModelSpec) -> str:
    """The tag that serves `spec`: the adapter's own tag when it has one."""
    return spec.adapter or ollama_tag(spec.name or "")


def chat_model(spec: ModelSpec) -> BaseChatModel:
    """`ChatOllama` for `spec`; structured output with `method="json_schema"` sends `format`."""
    langchain_ollama = require("langchain_ollama", "ollama")
    g = spec.generation or Generation()
    return langchain_ollama.ChatOllama(
        model=model_tag(spec),
        base_url=server_url(spec),
        temperature=g.temperature,
        num_predict=g.max_tokens,
        top_p=g.top_p,
        seed=g.seed,
        stop=g.stop or None,
        repeat_penalty=g.repeat_penalty,
        client_kwargs={"timeout": spec.timeout_s, "transport": _retrying_transport()},
    )


def _retrying_transport() -> Any:
    """An httpx transport that retries like the openai client does, with exponential backoff.

    The ollama client itself never retries: one 500 from a busy server would end the turn.
    A retry happens before any token arrives (a status or a failed connection), so
    an answer is never streamed twice.
    """
    httpx_retries = require("httpx_retries", "ollama")
    retry = httpx_retries.Retry(
        total=RETRIES,
        backoff_factor=0.5,
        backoff_jitter=0.25,  # the openai client's: each wait is 75-100% of the exponential step
        allowed_methods=["GET", "POST"],  # chat and embed are POSTs: generation has no side effect
        status_forcelist=[429, 500, 502, 503, 504],
    )
    return httpx_retries.RetryTransport(retry=retry)


def embeddings(spec: ModelSpec) -> Embeddings:
    """`OllamaEmbeddings` (the `/api/embed` route) for `spec`."""
    langchain_ollama = require("langchain_ollama", "ollama")
    return langchain_ollama.OllamaEmbeddings(model=model_tag(spec), base_url=server_url(spec))


def client(spec: ModelSpec) -> Any:
    """The official `ollama.Client` for the server of `spec`."""
    return require("ollama", "ollama").Client(host=server_url(spec))


def list_models(spec: ModelSpec) -> list[str]:
    """Names of the models the Ollama server has."""
    return [model.model for model in client(spec).list().models]


def pull_model(spec: ModelSpec, name: str) -> Iterator[tuple[str, int, int]]:
    """Have the Ollama server pull `name` (a catalog name or a tag): (status, done, total) as it goes."""
    for progress in client(spec).pull(ollama_tag(name), stream=True):
        yield progress.status or "", progress.completed or 0, progress.total or 0


def create_model(spec: ModelSpec, name: str, modelfile: Path) -> None:
    """`ollama create NAME -f Modelfile` through the API: uploads the file blobs first.

    A `FROM` that names a GGUF file (the exact base an adapter was trained on) is
    uploaded like the adapters; a `FROM` tag names a model the server already has.
    """
    fields = parse_modelfile(modelfile)
    ollama = client(spec)
    adapters = {path.name: ollama.create_blob(path) for path in fields.pop("adapters", [])}
    base = (Path(modelfile).parent / fields["from_"]).resolve()
    if base.suffix == ".gguf" and base.is_file():
        del fields["from_"]
        fields["files"] = {base.name: ollama.create_blob(base)}
    ollama.create(model=name, adapters=adapters or None, **fields)


_PARAMETER_TYPES = {"num_ctx": int, "num_predict": int, "seed": int, "top_k": int,
                    "temperature": float, "top_p": float, "repeat_penalty": float}


def parse_modelfile(path: Path) -> dict[str, Any]:
    """The fields of a Modelfile as `ollama.Client.create` takes them.

    Supports FROM, ADAPTER, TEMPLATE, SYSTEM, PARAMETER and LICENSE, with
    triple-quoted values; relative paths are relative to the Modelfile.
    """
    text = Path(path).read_text(encoding="utf-8")
    fields: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    lines = iter(enumerate(text.splitlines(), start=1))
    for number, line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command, _, value = line.strip().partition(" ")
        value = value.strip()
        if value.startswith('"""'):
            value = value[3:]
            while not value.endswith('"""'):
                try:
                    value += "\n" + next(lines)[1]
                except StopIteration:
                    raise ConfigError(f"{path}:{number}: unterminated \"\"\" string") from None
            value = value[:-3]
        command = command.upper()
        if command == "FROM":
            fields["from_"] = value
        elif command == "ADAPTER":
            fields.setdefault("adapters", []).append((Path(path).parent / value).resolve())
        elif command in ("TEMPLATE", "SYSTEM", "LICENSE"):
            fields[command.lower()] = value
        elif command == "PARAMETER":
            key, _, raw = value.partition(" ")
            raw = shlex.split(raw)[0] if raw.strip() else ""
            if key == "stop":
                parameters.setdefault("stop", []).append(raw)
            else:
                parameters[key] = _PARAMETER_TYPES.get(key, str)(raw)
        else:
            raise ConfigError(f"{path}:{number}: unknown Modelfile instruction {command}")
    if "from_" not in fields:
        raise ConfigError(f"{path}: a Modelfile needs a FROM line")
    if parameters:
        fields["parameters"] = parameters
    return fields
