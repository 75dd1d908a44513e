"""Per-expert knowledge: ingestion, Qdrant stores, hybrid retrieval, reranking, citations."""

from slmguild.knowledge.base import KnowledgeBase, Retriever
from slmguild.knowledge.chunks import Chunk
from slmguild.knowledge.ingest import IngestReport
from slmguild.knowledge.rerank import CrossEncoderReranker, LlamaServerReranker, Reranker
from slmguild.knowledge.store import Hit, KnowledgeStore

__all__ = [
    "Chunk",
    "CrossEncoderReranker",
    "Hit",
    "IngestReport",
    "KnowledgeBase",
    "KnowledgeStore",
    "LlamaServerReranker",
    "Reranker",
    "Retriever",
]
