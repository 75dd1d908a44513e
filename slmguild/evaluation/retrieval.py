"""Retrieval quality on questions with a known source: JSON lines
`{"question": ..., "expert": ..., "source": "docs/it/vpn-password-reset.md"}`.

A question's rank is the position of its source among the distinct documents of the
chunks found; recall@k is the share ranked within the first k, MRR the mean of 1/rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slmguild.knowledge import KnowledgeBase


@dataclass(frozen=True)
class SourcedQuestion:
    """A question, the expert whose documents answer it, and the document that does."""

    question: str
    expert: str
    source: str


@dataclass(frozen=True)
class RetrievalReport:
    """recall@1, recall@k and MRR over `total` questions (searching `k` chunks)."""

    total: int
    k: int
    recall_at_1: float
    recall_at_k: float
    mrr: float


def sourced_rows(rows: Sequence[dict[str, Any]]) -> list[SourcedQuestion]:
    """`SourcedQuestion`s from JSON-lines rows (`question`, `expert`, `source`)."""
    return [SourcedQuestion(str(row["question"]), str(row["expert"]), str(row["source"])) for row in rows]


def source_rank(base: KnowledgeBase, item: SourcedQuestion, k: int, **search: Any) -> int | None:
    """The 1-based rank of `item.source` among the documents found (None: not found)."""
    hits = base.search(item.expert, item.question, top_k=k, **search)
    documents = list(dict.fromkeys(hit.chunk.source for hit in hits))
    return documents.index(item.source) + 1 if item.source in documents else None


def retrieval_quality(
    base: KnowledgeBase,
    rows: Sequence[SourcedQuestion],
    *,
    k: int = 5,
    progress: Callable[[int, int], None] | None = None,
    **search: Any,
) -> RetrievalReport:
    """Search each question in its expert's collection; `search` as for `KnowledgeBase.search`."""
    ranks = []
    for done, item in enumerate(rows, 1):
        ranks.append(source_rank(base, item, k, **search))
        if progress:
            progress(done, len(rows))
    total = max(len(ranks), 1)
    return RetrievalReport(
        total=len(ranks),
        k=k,
        recall_at_1=sum(rank == 1 for rank in ranks) / total,
        recall_at_k=sum(rank is not None for rank in ranks) / total,
        mrr=sum(1 / rank for rank in ranks if rank is not None) / total,
    )
