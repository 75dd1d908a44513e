"""The embedder of a guild's knowledge, on any backend, as langchain-core `Embeddings`."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from slmguild.config import EmbedderSpec, EngineConfig, ModelSpec
from slmguild.errors import require
from slmguild.serving import embeddings
from slmguild.serving.onnx_embeddings import OnnxEmbeddings


def embedder_for(spec: EmbedderSpec, engine: EngineConfig | None = None) -> Embeddings:
    """The embeddings object that `spec` describes; models load lazily where they can."""
    if spec.backend == "onnx":
        return OnnxEmbeddings.from_catalog(spec.name)
    if spec.backend == "sentence-transformers":
        huggingface = require("langchain_huggingface", "sentence-transformers")
        return huggingface.HuggingFaceEmbeddings(
            model_name=spec.name, encode_kwargs={"normalize_embeddings": True}
        )
    model = ModelSpec(backend=spec.backend, name=spec.name, url=spec.url, api_key_env=spec.api_key_env)
    return embeddings(model, engine)


def describe(spec: EmbedderSpec) -> str:
    """`backend:name`: recorded with each collection, so a changed embedder is noticed."""
    return f"{spec.backend}:{spec.name}"
