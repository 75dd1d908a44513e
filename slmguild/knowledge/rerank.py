"""Rerankers: reorder a search's candidates by reading query and chunk together.

None by default (no reranker model ships in a wheel). `cross-encoder` runs a
sentence-transformers CrossEncoder (e.g. BAAI/bge-reranker-base, from the user's own
copy); `llama-server` asks a llama-server started with a reranker GGUF
(`llama-server --reranking -m bge-reranker-v2-m3.gguf`) through its `/v1/rerank` route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from slmguild.config import RerankerSpec
from slmguild.errors import BackendUnavailable, require
from slmguild.knowledge.chunks import Hit


class Reranker(Protocol):
    """Anything that scores (query, chunk) pairs."""

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, higher is better."""
        ...


def rerank_hits(reranker: Reranker, query: str, hits: Sequence[Hit], top_k: int) -> list[Hit]:
    """The `top_k` best of `hits` by the reranker's scores, ranked again from 1."""
    if not hits:
        return []
    scores = reranker.score(query, [hit.chunk.embedding_text() for hit in hits])
    order = sorted(range(len(hits)), key=lambda i: scores[i], reverse=True)[:top_k]
    return [replace(hits[i], score=float(scores[i]), rank=rank) for rank, i in enumerate(order, 1)]


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder (the `[sentence-transformers]` extra)."""

    def __init__(self, model: str) -> None:
        sentence_transformers = require("sentence_transformers", "sentence-transformers")
        self.model = sentence_transformers.CrossEncoder(model)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return [float(s) for s in self.model.predict([(query, text) for text in texts])]


class LlamaServerReranker:
    """llama-server's rerank route (`--reranking` with a reranker GGUF)."""

    def __init__(self, url: str, model: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1") + "/v1/rerank"
        self.model = model
        self.timeout_s = timeout_s

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        import httpx

        body = {"query": query, "documents": list(texts), "model": self.model}
        try:
            response = httpx.post(self.url, json=body, timeout=self.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"the reranker at {self.url} failed: {exc}") from None
        scores = [0.0] * len(texts)
        for result in response.json()["results"]:
            scores[result["index"]] = float(result["relevance_score"])
        return scores


def reranker_for(spec: RerankerSpec) -> Reranker | None:
    """The reranker `spec` describes; None for `backend: none`."""
    if spec.backend == "cross-encoder":
        return CrossEncoderReranker(spec.name or "BAAI/bge-reranker-base")
    if spec.backend == "llama-server":
        if not spec.url:
            raise BackendUnavailable("knowledge.reranker: the llama-server reranker needs `url:`")
        return LlamaServerReranker(spec.url, spec.name)
    return None
