"""Answer quality against reference answers: exact, key facts, ROUGE and BLEU.

- exact: the answer equals the reference (case, spacing and end punctuation aside);
- correct (`has_keys`): the answer states each key fact a person listed for the question;
- contains: the answer contains the reference's key facts — its tokens with a digit, a
  URL or an e-mail address, or the whole reference when it has none ("Paris.");
- ROUGE-L: F1 of the longest common word subsequence (Lin, 2004), by `rouge-score`;
- BLEU: corpus BLEU (0–100) by `sacrebleu`, the reference implementation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from slmguild.errors import require

_KEY_FACT = re.compile(r"\S*(?:\d|://|@)\S*")
_EDGE_PUNCTUATION = ".,;:!?\"'()"


@dataclass(frozen=True)
class AnswerScores:
    """Mean scores of a set of answers: exact, contains and ROUGE-L in 0–1, BLEU in
    0–100, judge in 1–5 (None when no judge rated them)."""

    exact: float
    contains: float
    rouge_l: float
    bleu: float
    judge: float | None = None


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(_EDGE_PUNCTUATION)


def key_facts(reference: str) -> list[str]:
    """The tokens of `reference` an answer must contain (see the module's docstring)."""
    facts = [token.strip(_EDGE_PUNCTUATION).lower() for token in _KEY_FACT.findall(reference)]
    return [fact for fact in facts if fact] or [_normal(reference)]


def has_keys(answer: str, keys: Sequence[Sequence[str]]) -> bool:
    """Whether `answer` states every key fact: for each group, one of its alternatives
    (case-insensitive), e.g. `[["ext. 4600", "4600"], ["HR Service Center"]]`."""
    lowered = answer.lower()
    return all(any(alternative.lower() in lowered for alternative in group) for group in keys)


def contains_facts(answer: str, reference: str) -> bool:
    """Whether `answer` contains every key fact of `reference` (case-insensitive)."""
    lowered = answer.lower()
    return all(fact in lowered for fact in key_facts(reference))


@cache
def _rouge_scorer():  # building it loads nltk's tokenizer pieces: once per process
    return require("rouge_score.rouge_scorer", "eval").RougeScorer(["rougeL"])


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 of `answer` against `reference` (0 when either has no words)."""
    return _rouge_scorer().score(reference, answer)["rougeL"].fmeasure


def bleu(answers: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0–100) of `answers` against one reference each."""
    if not answers:
        return 0.0
    sacrebleu = require("sacrebleu", "eval")
    return sacrebleu.corpus_bleu(list(answers), [list(references)]).score


def score_answers(
    answers: Sequence[str], references: Sequence[str], ratings: Sequence[int] | None = None
) -> AnswerScores:
    """The mean scores of `answers` against `references` (and the judge's `ratings`)."""
    pairs = list(zip(answers, references, strict=True))
    count = max(len(pairs), 1)
    return AnswerScores(
        exact=sum(_normal(a) == _normal(r) for a, r in pairs) / count,
        contains=sum(contains_facts(a, r) for a, r in pairs) / count,
        rouge_l=sum(rouge_l(a, r) for a, r in pairs) / count,
        bleu=bleu(answers, references),
        judge=sum(ratings) / len(ratings) if ratings else None,
    )
