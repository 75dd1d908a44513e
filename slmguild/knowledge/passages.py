"""Passages: the sentences, lists and table rows of retrieved chunks that bear on a question.

A 135M model gets lost in 600 tokens of loosely related text, and answers best from one
to three sentences (docs/answers.md). So a chunk is cut into passages — a
sentence of a paragraph, a list (with the sentence that leads it), a row of a table (each cell under its column's name) — and each passage carries its
section's heading, so that "ext. 4357" keeps its meaning once it stands alone. The
passages most similar to the question (cosine of the knowledge embedder) are what the
model sees; each remembers its chunk, so citations still point at the document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from slmguild.knowledge.answer_types import AnswerType, asked_types, stated
from slmguild.knowledge.chunks import Hit
from slmguild.knowledge.sentences import split_sentences
from slmguild.knowledge.words import content_words
from slmguild.vectors import unit

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,2}[.)])\s+")  # "- ", "* ", "1. ", "2) "
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_EMPHASIS = re.compile(r"\*\*|__|`")
# Chosen on the dev questions of both example guilds (docs/answers.md), by how
# often the best passage holds the key facts (it leads the answer), example guild / manuals
# of 66 / 30: prior 0.1, words 0.5: 54 / 14; prior 0.3 (the search, which saw the whole
# chunk and its heading, knows better than one sentence's cosine), words 1.0: 52 / 19.
# Short paragraphs kept whole put the fact in the best passage more often (55 / 21) but
# less often in its first sentence, which is what a reader reads first.
RANK_PRIOR = 0.3
WORD_WEIGHT = 1.0


@dataclass(frozen=True)
class Passage:
    """A sentence, list or table row of a retrieved chunk, as the model is shown it."""

    text: str  # the words of the document (emphasis marks removed)
    heading: str  # the section it is in ("" when none)
    hit: Hit  # the chunk it came from: its document is what the answer cites

    @property
    def shown(self) -> str:
        """The passage under its heading: what is embedded and what the model reads."""
        return f"{self.heading}: {self.text}" if self.heading else self.text


def split_passages(hit: Hit) -> list[Passage]:
    """The passages of one retrieved chunk, in document order.

    A list is one passage, led by the sentence before it and with its sub-items: steps are
    answered together and in order, and "Call ext. 4357" keeps the "if your laptop is
    stolen" that leads it. (Measured on the example guild: whole lists put the fact in
    the best passage for 0.74 of in-sample and 0.63 of held-out questions, item by item
    0.70 and 0.58; in the best three, 0.89 and 0.84 either way.)
    """
    heading = hit.chunk.heading or hit.chunk.title
    passages: list[Passage] = []
    lead = ""  # the last sentence before a list: it says what the list is about
    columns: list[str] = []  # the header of the table being read
    items: list[str] = []  # the list being read

    def end_list() -> None:
        if items:
            passages.append(Passage("\n".join(items), heading, hit))
            items.clear()

    for raw in _EMPHASIS.sub("", hit.chunk.text).splitlines():
        line = raw.strip()
        if items and (LIST_ITEM.match(raw) or (line and raw[:1].isspace())):
            items.append(line)  # the next item, or an indented line of the current one
            continue
        end_list()
        if not line:
            columns = []
        elif match := _HEADING.match(line):
            heading, lead, columns = match.group(1), "", []
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if _TABLE_RULE.match(line):
                continue
            if not columns:
                columns = cells
                continue
            row = ", ".join(f"{name}: {cell}" if name else cell for name, cell in zip(columns, cells))
            passages.append(Passage(row, heading, hit))
        elif LIST_ITEM.match(raw):
            items.extend([lead, line] if lead else [line])
        else:
            sentences = split_sentences(line)
            lead = sentences[-1] if sentences else ""
            # A sentence that only introduces a list ("The rules are:") says nothing by itself.
            passages.extend(Passage(sentence, heading, hit) for sentence in sentences if not sentence.endswith(":"))
    end_list()
    return passages


def select_passages(
    question: str,
    hits: Sequence[Hit],
    embedder: Embeddings,
    *,
    count: int = 3,
    kinds: tuple[AnswerType, ...] | None = None,
    context: str | None = None,
) -> list[tuple[Passage, float]]:
    """The `count` passages of `hits` that bear most on `question`, best first, with their cosine.

    A passage is ranked by its cosine with the question, plus `RANK_PRIOR / rank` of its
    chunk (the search saw the whole chunk, the passage alone may not name its topic), plus
    `WORD_WEIGHT` times its share of the question's distinctive words (`distinctive_share`):
    the rows of a table are alike to an embedder, "high" tells the one asked about; plus the
    weight of each kind of value the question asks for that it states (`answer_types`:
    "which port ... unless I say otherwise?": "Port: The default is 22."; a how-to: the
    steps). Passages repeated across overlapping chunks
    are scored once, and a sentence that leads a list is left out where the list is there
    too: the list holds it (it would take one of the `count` places for less).

    `kinds`: the kinds of value asked for, when not `question`'s own. `context`: a
    follow-up's question in context; a passage's cosine is then the higher of its cosines
    with the two ("and in Munich?" is near the Munich row, "what about after 10 years?"
    only in context), and its words are the follow-up's own.
    """
    unique: dict[str, Passage] = {}
    for hit in hits:
        for passage in split_passages(hit):
            unique.setdefault(passage.shown, passage)
    passages = [
        p for p in unique.values()
        if not any(q.heading == p.heading and q.text != p.text and p.text in q.text for q in unique.values())
    ]
    if not passages:
        return []
    vectors = unit(np.asarray(embedder.embed_documents([p.shown for p in passages])))
    queries = [question] if context is None else [question, context]
    similarity = (vectors @ unit(np.asarray([embedder.embed_query(q) for q in queries])).T).max(axis=1)
    ranked = (
        similarity
        + RANK_PRIOR / np.asarray([p.hit.rank for p in passages], dtype=np.float32)
        + WORD_WEIGHT * distinctive_share(question, [p.shown for p in passages])
    )
    if kinds is None:
        kinds = asked_types(question)
    if kinds:
        ranked += np.asarray([sum(kind.weight for kind in stated(kinds, p.shown)) for p in passages], dtype=np.float32)
    best = np.argsort(-ranked, kind="stable")[:count]
    return [(passages[i], float(similarity[i])) for i in best]


def distinctive_share(question: str, texts: Sequence[str]) -> np.ndarray:
    """For each text, the share of the question's words it holds, each word weighted by how
    few of `texts` hold it (its inverse document frequency among them): a word all of them
    share tells none apart."""
    asked = set(content_words(question))
    vocabularies = [set(content_words(text)) for text in texts]
    weight = {word: math.log((len(texts) + 1) / (1 + sum(word in v for v in vocabularies))) for word in asked}
    total = sum(weight.values())
    if not total:
        return np.zeros(len(texts), dtype=np.float32)
    return np.asarray([sum(weight[word] for word in asked & v) / total for v in vocabularies], dtype=np.float32)
