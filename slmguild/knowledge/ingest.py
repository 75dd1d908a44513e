"""`slmguild ingest`: an expert's sources into its collection, incrementally.

A file whose bytes did not change since the last ingest is not read again; a changed
file's chunks replace its old ones; a file that disappeared takes its chunks with it.
Running ingest twice in a row therefore does nothing the second time. A file that
cannot be read is skipped with a warning and counted; the rest is ingested.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from slmguild.knowledge.chunks import SUPPORTED_SUFFIXES, chunk_file, file_hash

if TYPE_CHECKING:
    from slmguild.knowledge.base import KnowledgeBase

log = logging.getLogger("slmguild.knowledge")

# (expert, file being read or None when the expert is done, files done, files to do)
Progress = Callable[[str, str | None, int, int], None]


@dataclass
class IngestReport:
    """What one expert's ingest did."""

    expert: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # source -> why
    chunks: int = 0  # chunks embedded and stored by this run
    seconds: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0


def ingest_expert(
    base: KnowledgeBase, expert: str, *, rebuild: bool = False, progress: Progress | None = None
) -> IngestReport:
    """Bring `expert`'s collection in line with its sources; return what changed."""
    started = time.perf_counter()
    report = IngestReport(expert)
    store, embedder = base.store, base.embedder
    store.prepare(expert, base.dimension, base.embedder_name, rebuild=rebuild)
    indexed = store.indexed_files(expert)
    files = dict(base.source_files(expert))
    for gone in sorted(set(indexed) - set(files)):
        report.removed.append(gone)
    store.delete_files(expert, report.removed)
    for done, (source, path) in enumerate(sorted(files.items())):
        if progress:
            progress(expert, source, done, len(files))
        try:
            digest = file_hash(path)
            if indexed.get(source) == digest:
                report.unchanged.append(source)
                continue
            chunks = chunk_file(
                path, source, chunk_size=base.settings.chunk_size,
                chunk_overlap=base.settings.chunk_overlap,
            )
        except Exception as exc:  # a corrupt or unreadable file must not stop the others  # noqa: BLE001
            report.skipped[source] = _reason(exc)
            log.warning("skipped %s: %s", path, report.skipped[source])
            continue
        if not chunks:
            report.skipped[source] = "no text found"
            log.warning("skipped %s: no text found", path)
            continue
        dense = embedder.embed_documents([base.document_text(chunk) for chunk in chunks])
        sparse = [base.bm25.encode_document(chunk.embedding_text()) for chunk in chunks]
        store.replace_file(expert, source, chunks, dense, sparse)
        (report.updated if source in indexed else report.added).append(source)
        report.chunks += len(chunks)
    if progress:
        progress(expert, None, len(files), len(files))
    report.seconds = time.perf_counter() - started
    return report


def find_files(source: Path) -> Iterator[Path]:
    """The documents a configured source stands for: the file, or a folder's files."""
    if source.is_file():
        yield source
    elif source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                yield path
    else:
        log.warning("knowledge source %s does not exist", source)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
