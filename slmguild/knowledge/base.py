"""A guild's knowledge: its store, its embedder, and each expert's retriever.

Nothing heavy happens until it is needed: the Qdrant store opens (and, in local mode,
locks its folder) on the first search or ingest, and the embedder loads then too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from slmguild.config import GuildConfig
from slmguild.errors import KnowledgeError
from slmguild.knowledge.chunks import Chunk, Filters, Hit, SearchMode, chunk_file
from slmguild.knowledge.embedders import describe, embedder_for
from slmguild.knowledge.ingest import IngestReport, Progress, find_files, ingest_expert
from slmguild.knowledge.rerank import Reranker, rerank_hits, reranker_for
from slmguild.knowledge.sparse import BM25Encoder

if TYPE_CHECKING:
    from slmguild.knowledge.store import KnowledgeStore


class KnowledgeBase:
    """Every expert's documents, searchable; built from the guild's `knowledge:` settings."""

    def __init__(
        self,
        config: GuildConfig,
        *,
        embedder: Embeddings | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.config = config
        self.settings = config.knowledge
        self._checked: set[str] = set()  # collections known to match this embedder
        # A caller's own embedder or reranker (a test double, a shared instance) wins.
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if reranker is not None:
            self.__dict__["reranker"] = reranker

    @cached_property
    def store(self) -> KnowledgeStore:
        from slmguild.knowledge.store import (
            KnowledgeStore,  # qdrant-client takes ~1 s to import
        )

        return KnowledgeStore(self.settings.store, self.config.name)

    @cached_property
    def bm25(self) -> BM25Encoder:
        return BM25Encoder()

    @cached_property
    def embedder(self) -> Embeddings:
        return embedder_for(self.settings.embedder, self.config.engine)

    @cached_property
    def reranker(self) -> Reranker | None:
        return reranker_for(self.settings.reranker)

    @cached_property
    def dimension(self) -> int:
        """Of the embedder's vectors: its own `dimension` if it says, else measured once."""
        known = getattr(self.embedder, "dimension", None)
        return known if isinstance(known, int) else len(self.embedder.embed_query("dimension probe"))

    @property
    def embedder_name(self) -> str:
        return describe(self.settings.embedder)

    def experts(self) -> list[str]:
        """The experts that have knowledge sources."""
        return [name for name, expert in self.config.experts.items() if expert.knowledge.sources]

    def source_files(self, expert: str) -> Iterator[tuple[str, Path]]:
        """(source name, path) of every document of `expert`; names are relative to a root."""
        roots = [Path(root).resolve() for root in self.settings.roots]
        for source in self.config.experts[expert].knowledge.sources:
            for path in find_files(Path(source)):
                resolved = path.resolve()
                root = next((r for r in roots if resolved.is_relative_to(r)), None)
                if root is None:  # a symlink inside a source that points outside the roots
                    raise KnowledgeError(
                        f"{path} is outside the knowledge roots ({', '.join(map(str, roots))}): refused"
                    )
                yield resolved.relative_to(root).as_posix(), path

    def document_chunks(self, expert: str) -> Iterator[Chunk]:
        """Every document of `expert` cut into chunks as ingest cuts it, read from the files
        (not from the store: no ingest needed); a file that cannot be read raises."""
        for source, path in self.source_files(expert):
            yield from chunk_file(path, source, chunk_size=self.settings.chunk_size,
                                  chunk_overlap=self.settings.chunk_overlap)

    def document_text(self, chunk: Chunk) -> str:
        return self.settings.embedder.document_prefix + chunk.embedding_text()

    def ingest(
        self, experts: list[str] | None = None, *, rebuild: bool = False, progress: Progress | None = None
    ) -> list[IngestReport]:
        """Ingest the sources of `experts` (default: every expert that has sources)."""
        if outside := self.config.sources_outside_roots():
            name, index, source = outside[0]
            raise KnowledgeError(
                f"experts.{name}.knowledge.sources.{index}: {source} is outside the knowledge roots"
            )
        chosen = experts or self.experts()
        for name in chosen:
            if name not in self.config.experts:
                raise KnowledgeError(f"the guild '{self.config.name}' has no expert '{name}'")
        return [ingest_expert(self, name, rebuild=rebuild, progress=progress) for name in chosen]

    def retriever(self, expert: str) -> Retriever | None:
        """The retriever of `expert`, or None when it has no knowledge sources."""
        own = self.config.experts.get(expert)
        if own is None or not own.knowledge.sources:
            return None
        return Retriever(self, expert, own.knowledge.top_k or self.settings.top_k)

    def search(
        self,
        expert: str,
        query: str,
        *,
        top_k: int | None = None,
        mode: SearchMode | None = None,
        filters: Filters | None = None,
        rerank: bool = True,
    ) -> list[Hit]:
        """The chunks of `expert`'s documents that best answer `query`, best first."""
        top_k = top_k or self.settings.top_k
        mode = mode or self.settings.search
        store = self.store
        if not store.exists(expert):
            raise KnowledgeError(
                f"the knowledge of '{expert}' has not been ingested: run `slmguild ingest --expert {expert}`"
            )
        dense = None
        if mode != "sparse":
            dense = self.embedder.embed_query(self.settings.embedder.query_prefix + query)
            if expert not in self._checked:  # once: on a server, each check is a round trip
                store.check(expert, len(dense), self.embedder_name)
                self._checked.add(expert)
        sparse = self.bm25.encode_query(query) if mode != "dense" else None
        reranker = self.reranker if rerank else None
        hits = store.search(
            expert,
            dense=dense,
            sparse=sparse,
            mode=mode,
            limit=self.settings.candidates if reranker else top_k,
            candidates=self.settings.candidates,
            filters=filters,
        )
        return rerank_hits(reranker, query, hits, top_k) if reranker else hits


@dataclass(frozen=True)
class Retriever:
    """What an expert searches: its own collection, `top_k` chunks at a time."""

    base: KnowledgeBase
    expert: str
    top_k: int

    def search(self, query: str, *, filters: Filters | None = None) -> list[Hit]:
        return self.base.search(self.expert, query, top_k=self.top_k, filters=filters)
