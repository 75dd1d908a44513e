"""Grounded answers: what the documents and tools say, checked before it is shown.

A 135M model that is handed the right document still invents steps and figures. So an
expert with knowledge or tools answers in three moves (README, "Grounded answers"):

1. **narrow**: the passages of the retrieved chunks most like the question (sentences,
   list items, table rows under their headings; `slmguild.knowledge.passages`);
2. **draft** (strategy `grounded`): the model states the answer in one short sentence
   from those passages and the tools' results;
3. **check**: every figure of the draft must occur in that evidence and every sentence
   must be supported by one passage (`answer_check`). A draft that passes is shown;
   one that fails is dropped — an invented figure is never shown.

The passages are shown first, quoted and cited, as soon as they are chosen: the user
reads what the answer rests on while the model drafts (README, "Fast turns": the first
token at 0.68 s p50 instead of 2.14 s on two cores), and the checked sentence follows. With strategy
`extractive` they are the whole answer, and no model runs. When the search found nothing
relevant and no tool answered, the expert says so, and where to ask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from slmguild.agents.answer_check import CheckResult, Evidence
from slmguild.config import AnswerConfig
from slmguild.knowledge.chunks import Hit
from slmguild.knowledge.citations import source_id
from slmguild.knowledge.passages import Passage, select_passages
from slmguild.serving import capped
from slmguild.tools import Observation

# Measured on the example guild (README, "Grounded answers"): the question first, then the
# notes, then one sentence asked for, under a short system prompt — not the expert's long one.
DRAFT_SYSTEM = "You answer questions from the notes you are given."
DRAFT_PROMPT = "Question: {question}\n\nNotes:\n{notes}\n\nReply with one short sentence from the notes that answers the question."
Outcome = Literal["checked", "quoted", "not_found", "withheld"]
CONCLUSION = "\n\nIn short: {draft}"  # a checked draft, after the quoted findings


@dataclass(frozen=True)
class Grounding:
    """How a grounded answer was made: the evidence, the model's draft, the check, the outcome.

    `outcome`: `checked` (the draft passed and is shown, before the evidence if any), `quoted`
    (no draft, or it failed the check: the evidence alone is shown), `not_found` (no
    evidence), `withheld` (a generalist's answer made up a figure: `not_found` is said instead).
    """

    expert: str
    strategy: str
    passages: tuple[tuple[Passage, float], ...]
    draft: str
    check: CheckResult
    outcome: Outcome

    def describe(self) -> dict[str, object]:
        """The trace's view: passages with their document ids and scores, the check, the outcome."""
        return {
            "strategy": self.strategy,
            "passages": [
                {"id": source_id(p.hit), "chunk": p.hit.chunk.label, "text": p.shown, "similarity": round(s, 4)}
                for p, s in self.passages
            ],
            "draft": self.draft,
            "unsupported_figures": list(self.check.unsupported_figures),
            "unsupported_sentences": list(self.check.unsupported_sentences),
            "restates_question": self.check.restates_question,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Findings:
    """What a grounded answer rests on: the passages chosen for the question (with their
    cosine), and the tools' results."""

    passages: tuple[tuple[Passage, float], ...]
    results: tuple[Observation, ...]

    def __bool__(self) -> bool:
        return bool(self.passages or self.results)

    def quoted(self) -> str:
        """The findings as the user reads them: each result, each passage under its document's id."""
        lines = [f"- {obs.tool}: {obs.content}" if obs.status == "ok" else f"- {obs.tool} failed: {obs.content}"
                 for obs in self.results]
        # A list's lines are indented under its quote, so that each quote reads as one item.
        lines += ["- [{}] {}".format(source_id(p.hit), p.shown.replace("\n", "\n  ")) for p, _ in self.passages]
        heading = "From the documents:" if self.passages and not self.results else "From what I found:"
        return "\n".join([heading, *lines])


def draft_messages(question: str, found: Findings) -> list[BaseMessage]:
    """The prompt the model drafts its sentence from (and adapters are trained on:
    `slmguild.finetune.expert_work`)."""
    notes = [f"- {p.shown}" for p, _ in found.passages] + [f"- {obs.for_model()}" for obs in found.results]
    return [SystemMessage(DRAFT_SYSTEM), HumanMessage(DRAFT_PROMPT.format(question=question, notes="\n".join(notes)))]


def draft_evidence(question: str, found: Findings) -> Evidence:
    """What a draft from `found` is checked against. With a tool's result, only figures
    are checked: its JSON holds few of an answer's words."""
    return Evidence([*(p.shown for p, _ in found.passages), *(obs.content for obs in found.results)],
                    question, sentences=not found.results)


@dataclass
class GroundedAnswerer:
    """Makes an expert's grounded (or extractive) answer from its search's hits and tools' results."""

    expert: str
    settings: AnswerConfig
    embedder: Callable[[], Embeddings] | None  # the knowledge embedder, loaded on first use (None: no knowledge)

    def evidence(self, question: str, hits: Sequence[Hit]) -> list[tuple[Passage, float]]:
        """The passages of `hits` that bear on `question`, best first (none below `min_similarity`)."""
        if not hits or self.embedder is None:
            return []
        chosen = select_passages(question, hits, self.embedder(), count=self.settings.passages)
        return [(passage, score) for passage, score in chosen if score >= self.settings.min_similarity]

    def findings(self, question: str, hits: Sequence[Hit], observations: Sequence[Observation]) -> Findings:
        """What the answer rests on: the passages that bear on `question`, and what the
        tools said, failures included ("no ticket IT-9999" is an answer too)."""
        results = tuple(obs for obs in observations if not obs.retryable)
        return Findings(tuple(self.evidence(question, hits)), results)

    def nothing_found(self) -> tuple[str, Grounding]:
        """The answer when neither the documents nor the tools said anything relevant."""
        return self.settings.not_found, Grounding(self.expert, self.settings.strategy, (), "", CheckResult(), "not_found")

    def conclude(self, question: str, found: Findings, model: BaseChatModel) -> tuple[Grounding, AIMessage | None]:
        """(how the answer was made, the model's reply when it drafted one): `model` (the
        expert's) drafts one sentence from `found`, greedily and in at most `max_tokens`
        tokens, and the check decides whether it is shown (outcome `checked`) or not
        (`quoted`: the quoted findings are the answer). Strategy `extractive` runs no model."""
        if self.settings.strategy == "extractive":
            return Grounding(self.expert, "extractive", found.passages, "", CheckResult(), "quoted"), None
        reply = capped(model, self.settings.max_tokens).invoke(draft_messages(question, found))
        draft = reply.text.strip()
        check = draft_evidence(question, found).check(draft)
        outcome: Outcome = "checked" if draft and check.passed else "quoted"
        return Grounding(self.expert, "grounded", found.passages, draft, check, outcome), reply

    def checked_answer(
        self, messages: Sequence[BaseMessage], question: str, model: BaseChatModel
    ) -> tuple[str, Grounding, AIMessage]:
        """A generalist's own answer (no documents, no tools: the fallback), shown only when
        every figure in it is the question's — it has nothing else to take one from."""
        reply = model.invoke(list(messages))
        draft = reply.text.strip()
        check = Evidence([], question, sentences=False).check(draft)
        outcome: Outcome = "checked" if check.passed else "withheld"
        text = draft if check.passed else self.settings.not_found
        return text, Grounding(self.expert, self.settings.strategy, (), draft, check, outcome), reply
