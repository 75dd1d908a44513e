"""The `openai` backend: any OpenAI-compatible server (llama-server, vLLM, LoRAX).

An adapter is chosen per request the way the server expects it: a multi-LoRA server
(vLLM, LoRAX) serves each adapter under its own model name; llama-server takes a
`lora` field with a scale per loaded adapter, found by the adapter's file path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from slmguild.config import Generation, ModelSpec
from slmguild.errors import BackendUnavailable, ConfigError, ModelUnavailable, require

DEFAULT_URL = "http://localhost:8080/v1"
RETRIES = 2  # after a 5xx, a timeout or a refused connection; the client backs off exponentially


def server_url(spec: ModelSpec) -> str:
    return spec.url or DEFAULT_URL


def api_key(spec: ModelSpec) -> str:
    """The API key from the environment variable that `api_key_env` names.

    Local servers need none, but the client insists on a value.
    """
    if spec.api_key_env is None:
        return "not-needed"
    key = os.environ.get(spec.api_key_env)
    if not key:
        raise ConfigError(f"api_key_env: the environment variable {spec.api_key_env} is not set")
    return key


def chat_model(spec: ModelSpec) -> BaseChatModel:
    """`ChatOpenAI` for `spec`; structured output with `method="json_schema"`."""
    langchain_openai = require("langchain_openai", "openai")
    g = spec.generation or Generation()
    extra_body: dict[str, Any] = {}
    model = spec.name
    if spec.adapter and spec.adapter.endswith(".gguf"):
        extra_body["lora"] = llama_server_lora(spec)
    elif spec.adapter:
        model = spec.adapter
    return langchain_openai.ChatOpenAI(
        model=model or "default",
        base_url=server_url(spec),
        api_key=api_key(spec),
        temperature=g.temperature,
        max_tokens=g.max_tokens,
        top_p=g.top_p,
        seed=g.seed,
        stop=g.stop or None,
        extra_body=extra_body or None,
        stream_usage=True,
        max_retries=RETRIES,
        timeout=spec.timeout_s,
    )


def embeddings(spec: ModelSpec) -> Embeddings:
    """`OpenAIEmbeddings` for `spec` (the `/v1/embeddings` route)."""
    langchain_openai = require("langchain_openai", "openai")
    return langchain_openai.OpenAIEmbeddings(
        model=spec.name or "default",
        base_url=server_url(spec),
        api_key=api_key(spec),
        # The length check tokenizes with tiktoken, which downloads its tables: not offline.
        check_embedding_ctx_length=False,
    )


def list_models(spec: ModelSpec) -> list[str]:
    """Model names the server lists at `/v1/models`."""
    openai = require("openai", "openai")
    client = openai.OpenAI(base_url=server_url(spec), api_key=api_key(spec))
    return [model.id for model in client.models.list()]


def llama_server_lora(spec: ModelSpec) -> list[dict[str, Any]]:
    """The `lora` field selecting `spec.adapter` on a llama-server, 0 for its other adapters."""
    httpx = require("httpx", "openai")
    root = server_url(spec).rstrip("/").removesuffix("/v1")
    try:
        loaded = httpx.get(f"{root}/lora-adapters", timeout=10).raise_for_status().json()
    except httpx.HTTPError as exc:
        raise BackendUnavailable(f"cannot list the adapters of {root}/lora-adapters: {exc}") from None
    wanted = Path(spec.adapter or "").resolve()
    scales = [
        {"id": item["id"], "scale": spec.adapter_scale if Path(item["path"]).resolve() == wanted else 0.0}
        for item in loaded
    ]
    if not any(item["scale"] for item in scales) and spec.adapter_scale:
        raise ModelUnavailable(
            f"the server at {root} has not loaded the adapter {spec.adapter}; "
            "start llama-server with --lora for it"
        )
    return scales
