"""Per-expert knowledge: ingestion, Qdrant stores, hybrid retrieval, reranking, citations."""

from slmguild.knowledge.base import KnowledgeBase, Retriever
from slmguild.knowledge.chunks import Chunk, Hit
from slmguild.knowledge.ingest import IngestReport
from slmguild.knowledge.rerank import (
    CrossEncoderReranker,
    LlamaServerReranker,
    Reranker,
)

__all__ = [
    "Chunk",
    "CrossEncoderReranker",
    "Hit",
    "IngestReport",
    "KnowledgeBase",
    "LlamaServerReranker",
    "Reranker",
    "Retriever",
]
