"""Retrieved chunks into the prompt, and citations out of the answer.

Each chunk is shown to the model under its document's id (`[vpn-password-reset]`) and
the model is asked to cite the ids it used. A small model often forgets; then the
answer is checked against the chunks it was given, and the documents whose words it
repeats are cited for it. An answer that repeats none is left uncited: a citation
is a claim that the text came from there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmguild.knowledge.chunks import Hit

_WORD = re.compile(r"[a-z0-9][a-z0-9.\-/@]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)
MIN_SUPPORT = 0.5  # share of an answer's content words that a document must contain
_SHORT = 3  # words this short ("the", "and", "you") say nothing about where text came from


def source_id(hit: Hit) -> str:
    """The id a chunk is cited by: its document's file name without the suffix."""
    return Path(hit.chunk.source).stem


SNIPPET_CHARS = 240


def describe_hit(hit: Hit) -> dict[str, Any]:
    """A hit as traces and the HTTP API show it: its citation id, where it is, how it
    scored, and the start of its text."""
    text = " ".join(hit.chunk.text.split())
    return {
        "id": source_id(hit),
        "chunk": hit.chunk.label,
        "source": hit.chunk.source,
        "heading": hit.chunk.heading,
        "score": round(hit.score, 4),
        "similarity": hit.similarity,
        "rank": hit.rank,
        "snippet": text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …",
    }


def context_block(hits: Sequence[Hit]) -> str:
    """The excerpts as the model sees them, grouped by document, best document first."""
    by_source: dict[str, list[str]] = {}
    for hit in hits:
        by_source.setdefault(source_id(hit), []).append(hit.chunk.text)
    return "\n\n".join(f"[{source}]\n" + "\n".join(texts) for source, texts in by_source.items())


def cited(answer: str, hits: Sequence[Hit]) -> list[str]:
    """The ids of the retrieved documents that `answer` cites as `[id]`, in order of citation."""
    known = {source_id(hit) for hit in hits}
    found = re.findall(r"\[([^\[\]\s]+)\]", answer)
    return list(dict.fromkeys(item for item in found if item in known))


def supporting(answer: str, hits: Sequence[Hit]) -> list[str]:
    """The retrieved documents that contain at least `MIN_SUPPORT` of the answer's content words."""
    words = _content_words(answer)
    if not words:
        return []
    support: dict[str, set[str]] = {}
    for hit in hits:
        support.setdefault(source_id(hit), set()).update(_content_words(hit.chunk.text))
    scored = [(len(words & vocabulary) / len(words), source) for source, vocabulary in support.items()]
    return [source for share, source in sorted(scored, reverse=True) if share >= MIN_SUPPORT][:2]


def missing_citation(answer: str, hits: Sequence[Hit]) -> str:
    """The line to append to an answer that cites nothing it could have ("" if none is due)."""
    if not hits or cited(answer, hits):
        return ""
    sources = supporting(answer, hits)
    return "\n\nSources: " + ", ".join(f"[{source}]" for source in sources) if sources else ""


def _content_words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text) if len(word) > _SHORT}
