"""Answer quality of a guild, end to end: each question goes through routing, search,
tools and the answer, as a user's would, and the answer is scored against a reference.

JSON lines `{"question": ..., "answer": ..., "keys": [["ext. 4600", "4600"], ...]}`: `keys`
are the key facts a right answer states (each a group of alternatives; see
`metrics.has_keys`), `answer` the reference for the text metrics; `"unanswerable": true`
marks a question the documents do not answer. Answers are scored as a reader reads them:
the key facts in the first sentence (`lead`), anywhere (`correct`), the length in words,
unanswerable questions answered honestly (the expert said it did not find it) and
answerable ones wrongly refused, the time to the first token and to the whole turn.
Besides those, each answer is checked for **unsupported figures**: numbers, amounts, dates, codes, e-mails or
URLs that occur neither in the question nor in anything the expert's search or tools
returned (nor in the guild's own not-found texts) — a made-up figure, whatever the answer
strategy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slmguild.agents import Retrieved, ToolResult
from slmguild.agents.answer_check import Evidence
from slmguild.evaluation.judge import Judge
from slmguild.evaluation.metrics import AnswerScores, has_keys, score_answers
from slmguild.knowledge.passages import LIST_ITEM, split_passages
from slmguild.knowledge.sentences import split_sentences
from slmguild.orchestrator.events import Done
from slmguild.orchestrator.trace import TurnTrace

if TYPE_CHECKING:
    from slmguild.orchestrator import Guild

Keys = list[list[str]]


@dataclass(frozen=True)
class ReferenceQuestion:
    """A question, its reference answer and the key facts a right answer states."""

    question: str
    reference: str
    keys: Keys = field(default_factory=list)
    unanswerable: bool = False


@dataclass(frozen=True)
class AnsweredQuestion:
    """A question, its reference, the guild's answer, who gave it and how it measured."""

    question: str
    reference: str
    answer: str
    expert: str
    keys: Keys = field(default_factory=list)
    unsupported_figures: tuple[str, ...] = ()
    latency_s: float = 0.0
    output_tokens: int = 0
    trace: TurnTrace = field(default_factory=TurnTrace, repr=False)
    unanswerable: bool = False

    @property
    def correct(self) -> bool:
        return has_keys(self.answer, self.keys)

    @property
    def lead_correct(self) -> bool:
        """Whether the answer's first sentence states every key fact."""
        return has_keys(first_sentence(self.answer), self.keys)

    @property
    def refused(self) -> bool:
        """Whether the guild said it could not answer (nothing found, or its answer withheld)."""
        return any(part.answer is not None and part.answer.outcome in ("not_found", "withheld")
                   for part in self.trace.all_parts())

    @property
    def words(self) -> int:
        return len(self.answer.split())


def first_sentence(text: str) -> str:
    """What a reader takes in first: the answer's first sentence — or, where it leads into
    steps ("Resetting: 1. Open ...", "2. Click ..."), the steps with it."""
    paragraph = text.strip().split("\n\n")[0]
    lines = paragraph.splitlines()
    if len(lines) > 1 and all(LIST_ITEM.match(line) for line in lines[1:]):
        return paragraph
    sentences = split_sentences(paragraph)
    return sentences[0] if sentences else ""


@dataclass
class AnswerReport:
    """The scores of the guild's answers, and the answers themselves.

    `correct`: share of the questions with keys whose answer states every key fact;
    `unsupported`: share of answers with a figure that nothing the expert was given holds.
    """

    scores: AnswerScores | None  # None when only the key facts were scored (`summarize`)
    answered: list[AnsweredQuestion] = field(default_factory=list)
    correct: float | None = None
    unsupported: float = 0.0
    p50_s: float = 0.0
    p95_s: float = 0.0
    output_tokens: float = 0.0
    lead: float | None = None  # share of keyed questions whose first sentence states the key facts
    median_words: float = 0.0
    honest: float | None = None  # share of unanswerable questions the guild said it could not answer
    wrongly_refused: float | None = None  # share of keyed questions it refused
    first_token_p50_s: float = 0.0


@dataclass(frozen=True)
class DraftCounts:
    """How a grounded answer's check judged the model's drafts, against the key facts.

    `shown`: drafts the check let through (whole, or the start of them that passes);
    `shown_without_keys`: of those, the ones whose lead does not state the key facts
    (misses: they passed, but do not answer); `right_drafts`:
    drafts that state them without a made-up figure; `false_alarms`: of those, the ones
    the check refused.
    """

    drafts: int = 0
    shown: int = 0
    shown_without_keys: int = 0
    right_drafts: int = 0
    false_alarms: int = 0


def draft_counts(answered: Sequence[AnsweredQuestion]) -> DraftCounts:
    """The `DraftCounts` of `answered` (answers without a draft, e.g. not grounded, are skipped)."""
    counts = dict.fromkeys(("drafts", "shown", "shown_without_keys", "right_drafts", "false_alarms"), 0)
    for item in answered:
        answer = item.trace.answer
        if answer is None or not answer.draft:
            continue
        shown, right = answer.outcome == "checked", has_keys(answer.draft, item.keys)
        counts["drafts"] += 1
        counts["shown"] += shown
        counts["shown_without_keys"] += shown and not has_keys(answer.lead, item.keys)  # the draft's start, maybe
        if right and not answer.unsupported_figures:
            counts["right_drafts"] += 1
            counts["false_alarms"] += not shown
    return DraftCounts(**counts)


def reference_rows(rows: Sequence[dict[str, Any]]) -> list[ReferenceQuestion]:
    """Reference questions from JSON-lines rows (`question`, `answer`, optional `keys` and
    `unanswerable`)."""
    return [
        ReferenceQuestion(str(row["question"]), str(row.get("answer") or ""), [list(g) for g in row.get("keys") or []],
                          bool(row.get("unanswerable")))
        for row in rows
    ]


def ask(guild: Guild, item: ReferenceQuestion, expert: str | None = None) -> AnsweredQuestion:
    """Ask the guild one question (no session; `expert`: that expert, not the router's
    choice) and measure the answer."""
    evidence: list[str] = []
    started = time.perf_counter()
    for event in guild.stream(item.question, expert=expert):
        if isinstance(event, Retrieved):
            # A chunk's heading is what the search returned too: a chunk cut mid-section is
            # shown under a heading ("4.3 DER functions") that its text does not repeat. Its
            # passages as quoted: a table row under its columns' names, which the markdown
            # states lines away from the row's figures.
            evidence += [text for hit in event.hits
                         for text in [hit.chunk.embedding_text(), *(p.shown for p in split_passages(hit))]]
        elif isinstance(event, ToolResult) and event.observation.status == "ok":
            evidence.append(event.observation.content)
    assert isinstance(event, Done), event  # the last event of a turn
    reply = event.reply
    # The guild's own words are not made up: a not-found text names where to ask ("ext. 4357").
    evidence += [guild.config.answer_for(name).not_found for name in [*guild.config.experts, "fallback"]]
    check = Evidence(evidence, item.question).check(reply.text)
    return AnsweredQuestion(
        item.question, item.reference, reply.text, reply.expert, item.keys, check.unsupported_figures,
        time.perf_counter() - started, int(reply.usage.get("output_tokens", 0)), reply.trace, item.unanswerable,
    )


def answer_quality(
    guild: Guild,
    rows: Sequence[ReferenceQuestion],
    *,
    judge: Judge | None = None,
    expert: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AnswerReport:
    """Ask the guild each question (no session; `expert`: all of them to that expert) and
    score the answers."""
    answered = []
    for done, item in enumerate(rows, 1):
        answered.append(ask(guild, item, expert))
        if progress:
            progress(done, len(rows))
    ratings = None
    if judge is not None:
        ratings = [judge.rate(item.question, item.answer, reference=item.reference).score for item in answered]
    scores = score_answers([item.answer for item in answered], [item.reference for item in answered], ratings)
    return summarize(answered, scores)


def summarize(answered: list[AnsweredQuestion], scores: AnswerScores | None = None) -> AnswerReport:
    """The report of `answered`: correct, unsupported figures, latency and output tokens
    (and the text `scores`, when computed)."""
    keyed = [item for item in answered if item.keys]
    unanswerable = [item for item in answered if item.unanswerable]
    latencies = sorted(item.latency_s for item in answered) or [0.0]
    first_tokens = [item.trace.first_token_s for item in answered if item.trace.first_token_s is not None] or [0.0]

    def share(items: Sequence[AnsweredQuestion], test: Callable[[AnsweredQuestion], bool]) -> float | None:
        return sum(map(test, items)) / len(items) if items else None

    return AnswerReport(
        scores,
        answered,
        correct=sum(item.correct for item in keyed) / len(keyed) if keyed else None,
        unsupported=sum(bool(item.unsupported_figures) for item in answered) / max(len(answered), 1),
        p50_s=statistics.median(latencies),
        p95_s=latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        output_tokens=statistics.fmean(item.output_tokens for item in answered) if answered else 0.0,
        lead=share(keyed, lambda item: item.lead_correct),
        median_words=statistics.median(item.words for item in answered) if answered else 0.0,
        honest=share(unanswerable, lambda item: item.refused),
        wrongly_refused=share(keyed, lambda item: item.refused),
        first_token_p50_s=statistics.median(first_tokens),
    )
