"""Qdrant: one collection per expert, dense and BM25 vectors side by side.

Local mode (a folder under the data directory, no server) is the default; `url:`
points the same code at a Qdrant server or cluster. Each point is one chunk: a
dense vector, a sparse BM25 vector and the chunk's payload (source, title, heading,
hashes). Hybrid search is Qdrant's Query API: both searches as prefetches, fused
by reciprocal rank (RRF).
"""

from __future__ import annotations

import atexit
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from qdrant_client import QdrantClient, models

from slmguild.config import StoreConfig
from slmguild.errors import KnowledgeError
from slmguild.knowledge.chunks import Chunk, Filters, Hit, SearchMode
from slmguild.paths import home

DENSE, SPARSE = "dense", "bm25"

_clients: dict[str, QdrantClient] = {}
_clients_lock = threading.Lock()


@atexit.register
def _close_clients() -> None:
    # Closed here, not by the garbage collector at exit, when the imports it needs are gone.
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


class KnowledgeStore:
    """The Qdrant collections of one guild's experts."""

    def __init__(self, config: StoreConfig, guild: str) -> None:
        self.guild = _slug(guild)
        self.location = config.url or str(Path(config.path or home() / "knowledge" / self.guild))
        self.client = _client(config, self.location)
        self.is_local = config.url is None

    def collection(self, expert: str) -> str:
        """The collection of `expert` (guild-prefixed: a server may host many guilds)."""
        return f"{self.guild}__{expert}"

    def exists(self, expert: str) -> bool:
        return self.client.collection_exists(self.collection(expert))

    def prepare(self, expert: str, dimension: int, embedder: str, *, rebuild: bool = False) -> None:
        """Make sure the expert's collection exists for vectors of `dimension` from `embedder`.

        An existing collection built by another embedder is an error (its vectors would
        not be comparable with the new ones) unless `rebuild` drops it first.
        """
        name = self.collection(expert)
        if rebuild and self.client.collection_exists(name):
            self.client.delete_collection(name)
        if self.client.collection_exists(name):
            self.check(expert, dimension, embedder)
            return
        self.client.create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata={"embedder": embedder, "dimension": dimension},
        )
        if not self.is_local:  # local mode scans payloads; a server wants an index
            self.client.create_payload_index(name, "source", models.PayloadSchemaType.KEYWORD)

    def check(self, expert: str, dimension: int, embedder: str) -> None:
        """Raise `KnowledgeError` if the collection was built by another embedder."""
        info = self.client.get_collection(self.collection(expert))
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) else None
        built_by = (info.config.metadata or {}).get("embedder", "an unknown embedder")
        if size != dimension or built_by != embedder:
            raise KnowledgeError(
                f"the knowledge of '{expert}' was built by {built_by} ({size}-d vectors), "
                f"but the guild now embeds with {embedder} ({dimension}-d): "
                f"run `slmguild ingest --expert {expert} --rebuild`"
            )

    def indexed_files(self, expert: str) -> dict[str, str]:
        """Every source in the expert's collection with the hash of the file it was cut from."""
        return {
            str(payload["source"]): str(payload.get("file_hash", ""))
            for payload in self._scroll(expert, ["source", "file_hash"])
        }

    def chunk_texts(self, expert: str) -> dict[str, list[str]]:
        """The text of the expert's chunks, by source file, in order."""
        chunks: dict[str, list[tuple[int, str]]] = {}
        for payload in self._scroll(expert, ["source", "chunk", "text"]):
            chunks.setdefault(str(payload["source"]), []).append((int(payload["chunk"]), str(payload["text"])))
        return {source: [text for _, text in sorted(rows)] for source, rows in chunks.items()}

    def _scroll(self, expert: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """The payload `fields` of every point of the expert's collection."""
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.collection(expert), limit=1024, offset=offset, with_payload=fields, with_vectors=False,
            )
            yield from (point.payload or {} for point in points)
            if offset is None:
                return

    def replace_file(
        self,
        expert: str,
        source: str,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[tuple[list[int], list[float]]],
    ) -> None:
        """Put a file's chunks in place of whatever the collection had from that file."""
        self.delete_files(expert, [source])
        points = [
            models.PointStruct(
                id=chunk.point_id,
                vector={
                    DENSE: list(vector),
                    SPARSE: models.SparseVector(indices=indices, values=values),
                },
                payload=chunk.payload(),
            )
            for chunk, vector, (indices, values) in zip(chunks, dense, sparse, strict=True)
        ]
        if points:
            self.client.upsert(self.collection(expert), points, wait=True)

    def delete_files(self, expert: str, sources: Sequence[str]) -> None:
        if sources:
            self.client.delete(
                self.collection(expert),
                models.FilterSelector(filter=_filter({"source": list(sources)})),
                wait=True,
            )

    def count(self, expert: str) -> int:
        return self.client.count(self.collection(expert), exact=True).count

    def search(
        self,
        expert: str,
        *,
        dense: Sequence[float] | None,
        sparse: tuple[list[int], list[float]] | None,
        mode: SearchMode,
        limit: int,
        candidates: int,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """The best `limit` chunks for a query's vectors; hybrid fuses `candidates` of each."""
        sparse_query = models.SparseVector(indices=sparse[0], values=sparse[1]) if sparse else None
        query_filter = _filter(filters)
        arguments: dict[str, Any] = {}
        if mode == "dense":
            arguments = {"query": list(dense or []), "using": DENSE}
        elif mode == "sparse":
            arguments = {"query": sparse_query, "using": SPARSE}
        else:
            arguments = {
                "prefetch": [
                    models.Prefetch(query=list(dense or []), using=DENSE, limit=candidates, filter=query_filter),
                    models.Prefetch(query=sparse_query, using=SPARSE, limit=candidates, filter=query_filter),
                ],
                "query": models.FusionQuery(fusion=models.Fusion.RRF),
            }
        result = self.client.query_points(
            self.collection(expert),
            limit=limit,
            query_filter=query_filter,
            with_payload=True,
            with_vectors=[DENSE] if dense is not None else False,
            **arguments,
        )
        return [
            Hit(
                Chunk.from_payload(point.payload or {}),
                float(point.score),
                rank,
                # The dense vector of a point is one vector (`with_vectors=[DENSE]`), not sparse or multi.
                _cosine(dense, cast("list[float]", point.vector[DENSE]))
                if dense is not None and isinstance(point.vector, dict) else None,
            )
            for rank, point in enumerate(result.points, start=1)
        ]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)) or 1.0
    return round(dot / norm, 4)


def _filter(filters: Filters | None) -> models.Filter | None:
    if not filters:
        return None
    conditions = [
        models.FieldCondition(
            key=key,
            match=models.MatchAny(any=list(value)) if isinstance(value, list | tuple | set)
            else models.MatchValue(value=value),
        )
        for key, value in filters.items()
    ]
    return models.Filter(must=conditions)


def _client(config: StoreConfig, location: str) -> QdrantClient:
    """One client per location in this process: local mode allows a single opener."""
    with _clients_lock:
        if location in _clients:
            return _clients[location]
        if config.url:
            api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
            client = QdrantClient(url=config.url, api_key=api_key)
        else:
            Path(location).mkdir(parents=True, exist_ok=True)
            try:
                client = QdrantClient(path=location)
            except RuntimeError as exc:
                if "already accessed" not in str(exc):
                    raise
                raise KnowledgeError(
                    f"the knowledge store {location} is open in another process: Qdrant's "
                    "local mode allows one process at a time. Stop the other process, or run "
                    "a Qdrant server and set knowledge.store.url in the guild file"
                ) from None
        _clients[location] = client
        return client


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "guild"
