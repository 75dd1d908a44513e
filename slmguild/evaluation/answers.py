"""Answer quality of a guild, end to end: each question goes through routing, search,
tools and the answer, as a user's would, and the answer is scored against a reference.
JSON lines `{"question": ..., "answer": ...}` (the retrieval questions carry both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slmguild.evaluation.judge import Judge
from slmguild.evaluation.metrics import AnswerScores, score_answers

if TYPE_CHECKING:
    from slmguild.orchestrator import Guild


@dataclass(frozen=True)
class AnsweredQuestion:
    """A question, its reference answer, the guild's answer and who gave it."""

    question: str
    reference: str
    answer: str
    expert: str


@dataclass
class AnswerReport:
    """The scores of the guild's answers, and the answers themselves."""

    scores: AnswerScores
    answered: list[AnsweredQuestion] = field(default_factory=list)


def reference_rows(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(question, reference answer) pairs from JSON-lines rows (`question`, `answer`)."""
    return [(str(row["question"]), str(row["answer"])) for row in rows]


def answer_quality(
    guild: Guild,
    rows: Sequence[tuple[str, str]],
    *,
    judge: Judge | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AnswerReport:
    """Ask the guild each question (no session) and score the answers."""
    answered = []
    for done, (question, reference) in enumerate(rows, 1):
        reply = guild.run(question)
        answered.append(AnsweredQuestion(question, reference, reply.text, reply.expert))
        if progress:
            progress(done, len(rows))
    ratings = None
    if judge is not None:
        ratings = [judge.rate(item.question, item.answer, reference=item.reference).score for item in answered]
    scores = score_answers([item.answer for item in answered], [item.reference for item in answered], ratings)
    return AnswerReport(scores, answered)
