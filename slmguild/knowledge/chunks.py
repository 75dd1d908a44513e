"""Documents into chunks: llama-index reads the file and splits it.

Every document is first brought to Markdown with one paragraph per line (`layout`: man
pages, PDFs and hard-wrapped text get their headings recognised there), then split at its
headings, so that a chunk seldom straddles two topics; every piece is then cut to `chunk_size` tokens. Each
chunk knows its document's title and its own heading: both go into the prompt and
the trace, and the heading makes a chunk findable by what its section is about.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slmguild.knowledge.layout import document_markdown
from slmguild.knowledge.sentences import sentence_chunks

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf")
_POINT_NAMESPACE = uuid.UUID("6f1d5a52-3c0e-4b7a-9d2e-51a6c1f0b7a3")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# Raise it whenever documents are cut differently: stores made before re-chunk their files
# on the next (incremental) ingest.
CHUNKING = "layout-1"


SearchMode = Literal["hybrid", "dense", "sparse"]
Filters = dict[str, Any]  # payload field -> a value, or a list of accepted values


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, as stored in its expert's collection."""

    source: str  # the document's path, relative to the guild's directory
    index: int  # position in the document, from 0
    text: str
    title: str  # the document's title (first heading, else the file name)
    heading: str  # the section the chunk is in ("" when none)
    file_hash: str  # of the whole file: what tells a changed file
    content_hash: str  # of this chunk's text

    @property
    def point_id(self) -> str:
        """A stable id: the same chunk of the same file is the same point on every ingest."""
        return str(uuid.uuid5(_POINT_NAMESPACE, f"{self.source}#{self.index}:{self.content_hash}"))

    @property
    def label(self) -> str:
        """How the model and the user see the chunk's source: `vpn-password-reset#2`."""
        return f"{Path(self.source).stem}#{self.index}"

    def embedding_text(self) -> str:
        """What is embedded: the title and heading situate a chunk that never names its topic."""
        context = " - ".join(part for part in (self.title, self.heading) if part)
        return f"{context}\n{self.text}" if context else self.text

    def payload(self) -> dict[str, object]:
        return {
            "source": self.source,
            "chunk": self.index,
            "text": self.text,
            "title": self.title,
            "heading": self.heading,
            "file_hash": self.file_hash,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, object]) -> Chunk:
        return cls(
            source=str(payload["source"]),
            index=int(str(payload["chunk"])),
            text=str(payload["text"]),
            title=str(payload.get("title", "")),
            heading=str(payload.get("heading", "")),
            file_hash=str(payload.get("file_hash", "")),
            content_hash=str(payload.get("content_hash", "")),
        )


@dataclass(frozen=True)
class Hit:
    """A chunk that a search returned, with its score (higher is better) and rank (from 1).

    `similarity` is the cosine between query and chunk (None for a sparse-only search):
    unlike a fused rank score it says how relevant the chunk is, not only how it ranks.
    """

    chunk: Chunk
    score: float
    rank: int
    similarity: float | None = None


def file_hash(path: Path) -> str:
    """The SHA-256 of `CHUNKING` and a file's bytes: a file is read again when it changed,
    or when the way files become chunks did."""
    digest = hashlib.sha256(CHUNKING.encode())
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_file(path: Path, source: str, *, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Read one document and split it into chunks; raise on a file that cannot be read."""
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter

    markdown = document_markdown(path)
    sections = MarkdownNodeParser().get_nodes_from_documents([Document(text=markdown)])
    sections = [section for section in sections if not _HEADING.fullmatch(section.get_content().strip())]
    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                chunking_tokenizer_fn=sentence_chunks)
    nodes = splitter.get_nodes_from_documents(sections)  # type: ignore[arg-type]  # any node with text splits
    texts = [node.get_content().strip() for node in nodes]
    texts = [text for text in texts if text]
    whole = file_hash(path)
    title = _first_heading(markdown.lstrip()) or path.stem.replace("-", " ").replace("_", " ")
    chunks, heading = [], ""
    for index, text in enumerate(texts):
        heading = _first_heading(text) or heading  # a chunk cut mid-section keeps its heading
        chunks.append(
            Chunk(
                source=source,
                index=index,
                text=text,
                title=title,
                heading="" if heading == title else heading,
                file_hash=whole,
                content_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
            )
        )
    return chunks


def _first_heading(text: str) -> str:
    match = _HEADING.match(text)
    return match.group(1) if match else ""
