"""Sentences: the one splitter for chunking, passages and the answer check.

NLTK's Punkt model for English (the copy that llama-index ships, so nothing is
downloaded), with the abbreviations that come before figures and examples in help-desk
and reference text added: "ext. 4357", "e.g. Berlin", "No. 5" and "vs. 6" do not end a
sentence. llama-index's own sentence splitter uses an untrained Punkt, which cuts at every
one of them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

_SECTION_NUMBER = re.compile(r"\s*\d{1,2}(?:\.\d{1,2})*\.?\s*")
_ABBREVIATIONS = ("ext", "e.g", "i.e", "no", "nos", "vs", "etc", "approx", "min", "max", "fig", "sec", "cf", "resp")


@functools.cache
def _tokenizer() -> Any:
    import llama_index.core
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    bundled = str(Path(llama_index.core.__file__).parent / "_static" / "nltk_cache")
    if bundled not in nltk.data.path:
        nltk.data.path.append(bundled)
    tokenizer = PunktTokenizer("english")
    tokenizer._params.abbrev_types.update(_ABBREVIATIONS)
    return tokenizer


def _spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences of `text` start and end. A section's number ("2.1. The package
    files: ...", a PDF manual's headings) ends no sentence: Punkt takes "2.1." for one."""
    spans: list[tuple[int, int]] = []
    for start, end in _tokenizer().span_tokenize(text):
        if spans and _SECTION_NUMBER.fullmatch(text[spans[-1][0]:spans[-1][1]]):
            start = spans.pop()[0]
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, each stripped; a line break always ends one (a list item,
    a table row and a heading are not run into the next line)."""
    return [sentence for line in text.splitlines() for start, end in _spans(line)
            if (sentence := line[start:end].strip())]


def sentence_chunks(text: str) -> list[str]:
    """`text` cut into its sentences with the spaces between them kept, so that the pieces
    join back into `text` (what llama-index's `SentenceSplitter` wants as its
    `chunking_tokenizer_fn`)."""
    spans = _spans(text)
    starts = [0, *(start for start, _ in spans[1:])]
    return [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)]) if text[start:end]]
