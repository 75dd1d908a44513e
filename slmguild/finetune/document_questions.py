"""Questions about an expert's documents, written by rules: no teacher model needed.

`finetune data synth` asks a model to write questions; a guild without a model larger than
its experts gets few usable ones from it. This generator needs none. It takes each
sentence of the expert's documents that states a figure — an amount, a share, a date, a
time of day, or a count of something ("27 working days", "3 times their salary") — and
asks for that figure where it stands, an echo question:

    Up to 5 unused days carry over to the next calendar year.
    -> Up to how many unused days carry over to the next calendar year?

The reference answer is the sentence itself and the question's source is its document,
so `finetune data work` can pair it with what the expert's search returns, and hold its
document out. What it teaches is the expert's reading: finding, among passages, the line
that answers and saying it. It cannot teach questions in other words than the
documents' (the held-out sets measure those), and a figure in a table row is not asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from slmguild.finetune.expert_work import Question
from slmguild.knowledge.chunks import Chunk

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_NUMBER = r"\d+(?:[.,]\d+)*"
# A figure and the words that ask for it, most specific first: the first that a sentence
# holds is asked.
_FIGURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?:EUR|USD|CAD|GBP|CHF|€|\$|£)\s?{_NUMBER}|{_NUMBER}\s?(?:EUR|USD|CAD|GBP|CHF|€|euros?)\b"),
     "how much"),
    (re.compile(rf"{_NUMBER}\s?%"), "what percentage"),
    (re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}\b|\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?\b"), "what date"),
    (re.compile(r"\b\d{1,2}:\d{2}(?:\s?[–-]\s?\d{1,2}:\d{2})?"), "what time"),
)
# A count: a number, then up to three words of which the last is a plural ("27 working days").
_COUNT = re.compile(rf"\b(?<![.:/#-]){_NUMBER}\s+((?:[a-z-]+\s+){{0,2}}?[a-z-]+s)\b")
_NOT_PLURAL = frozenset({"is", "was", "has", "as", "its", "this", "us", "plus", "less", "across", "always",
                         "does", "unless", "thus", "yes", "his", "hers", "ours", "yours", "process", "access",
                         "press"})
_NOT_IN_COUNT = frozenset({"and", "or", "to", "of", "for", "the", "a", "an", "in", "on", "at", "by", "per", "with"})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MARKUP = ((re.compile(r"\*\*|__|`"), ""), (re.compile(r"\[([^\]]+)\]\([^)]+\)"), r"\1"))
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
MIN_WORDS, MAX_WORDS = 5, 40  # shorter is a fragment; longer asks for too much at once


def echo_question(sentence: str) -> str | None:
    """The sentence with its first figure asked for ("... carry over how many days?"),
    or None when it states no figure this generator knows how to ask."""
    found = _first_figure(sentence)
    if found is None:
        return None
    start, end, asked = found
    before, after = sentence[:start], sentence[end:].rstrip(" .!;:")
    question = f"{before}{asked}{after}?"
    return question[0].upper() + question[1:]


def chunk_questions(chunks: Iterable[Chunk]) -> list[Question]:
    """Echo questions of every figure-stating sentence of `chunks`, each once (chunks overlap)."""
    seen: set[str] = set()
    questions = []
    for chunk in chunks:
        for sentence in _sentences(chunk.text):
            question = echo_question(sentence)
            if question is not None and question not in seen:
                seen.add(question)
                questions.append(Question(question, sentence, chunk.source))
    return questions


def _first_figure(sentence: str) -> tuple[int, int, str] | None:
    """Where the first askable figure is, and the words that ask for it."""
    candidates = [(match.start(), match.end(), asked) for pattern, asked in _FIGURES
                  for match in [pattern.search(sentence)] if match]
    for match in _COUNT.finditer(sentence):
        words = match.group(1).split()
        if words[-1] not in _NOT_PLURAL and not _NOT_IN_COUNT.intersection(words):
            candidates.append((match.start(), match.end(), f"how many {' '.join(words)}"))
            break
    return min(candidates, default=None)


def _sentences(text: str) -> Iterator[str]:
    """The prose sentences of a chunk's text: headings and table rows left out, markup removed."""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "|")):
            continue
        line = _LIST_MARK.sub("", line)
        for pattern, replacement in _MARKUP:
            line = pattern.sub(replacement, line)
        for sentence in _SENTENCE_END.split(line.strip()):
            # A sentence that ends in a colon introduces a list: its figure is asked in the list's lines.
            if MIN_WORDS <= len(sentence.split()) <= MAX_WORDS and not sentence.endswith(":"):
                yield sentence
