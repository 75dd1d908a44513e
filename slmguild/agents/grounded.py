"""Grounded answers: what the documents and tools say, checked before it is shown.

A 135M model that is handed the right document still invents steps and figures. So an
expert with knowledge or tools answers in three moves (docs/answers.md):

1. **narrow**: the passages of the retrieved chunks most like the question (sentences,
   list items, table rows under their headings; `slmguild.knowledge.passages`);
2. **draft** (strategy `grounded`): the model states the answer in one short sentence
   from those passages and the tools' results;
3. **check**: every figure of the draft must occur in that evidence, in its own context,
   and every sentence must be supported by one passage (`answer_check`).

The answer *leads with the answer* (docs/answers.md): one sentence that states
what was asked, then its source. The lead is the model's draft when it passes the check;
when it fails, the best-ranked passage, or what the tool returned, as a sentence. An invented figure is
never shown. The other passages are not pasted: they travel as the reply's sources (the
trace, `Reply.sources`, the HTTP API's `sources`, `slmguild ask --sources`). With strategy
`extractive` the best passage leads and no model runs. When the search found nothing
relevant and no tool answered, the expert says so, and where to ask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from slmguild.agents.answer_check import CheckResult, Evidence, figures
from slmguild.config import AnswerConfig
from slmguild.knowledge.answer_types import AnswerType, asked_types, stated
from slmguild.knowledge.chunks import Hit
from slmguild.knowledge.citations import source_id
from slmguild.knowledge.passages import Passage, select_passages
from slmguild.knowledge.sentences import split_sentences
from slmguild.knowledge.words import content_words
from slmguild.serving import capped
from slmguild.tools import Observation

# Measured on the example guild (docs/answers.md): the question first, then the
# notes, then one sentence asked for, under a short system prompt — not the expert's long one.
DRAFT_SYSTEM = "You answer questions from the notes you are given."
DRAFT_PROMPT = "Question: {question}\n\nNotes:\n{notes}\n\nReply with one short sentence from the notes that answers the question."
Outcome = Literal["checked", "quoted", "not_found", "withheld"]
# An Also passage must bring at least this share of words the lead does not hold: the
# quickstart's lead and its Also said the same thing twice.
MIN_NEW_WORDS = 0.4
_LITERAL = re.compile(r"(?<![\w/~.-])(?:~?/|\.{1,2}/|--?)[\w./~-]*\w")  # a path or an option


@dataclass(frozen=True)
class Grounding:
    """How a grounded answer was made: the evidence, the model's draft, the check, the outcome.

    `outcome`: `checked` (the draft passed, or its start that passes: it is the lead),
    `quoted` (no draft, or no start of it passed the check: a passage or a tool's result is
    the lead), `not_found` (no
    evidence), `withheld` (a generalist's answer made up a figure: `not_found` is said
    instead). `lead` is the answer's first sentence and `cites` the ids it cites (none when
    it comes from a tool or from no document).
    """

    expert: str
    strategy: str
    passages: tuple[tuple[Passage, float], ...]
    draft: str
    check: CheckResult
    outcome: Outcome
    lead: str = ""
    cites: tuple[str, ...] = ()
    also: str = ""  # the best passage besides the lead's, cited: the lead may answer beside the question

    @property
    def text(self) -> str:
        """The answer as the user reads it: the lead, then its source (and what else may answer)."""
        lead = " ".join([self.lead, *(f"[{source}]" for source in self.cites)]) if self.lead else ""
        return f"{lead}\n\nAlso: {self.also}" if self.also else lead

    def describe(self) -> dict[str, object]:
        """The trace's view: passages with their document ids and scores, the check, the outcome."""
        return {
            "strategy": self.strategy,
            "passages": [
                {"id": source_id(p.hit), "chunk": p.hit.chunk.label, "text": p.shown, "similarity": round(s, 4)}
                for p, s in self.passages
            ],
            "draft": self.draft,
            "lead": self.lead,
            "unsupported_figures": list(self.check.unsupported_figures),
            "unsupported_sentences": list(self.check.unsupported_sentences),
            "adds_nothing": self.check.adds_nothing,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Findings:
    """What a grounded answer rests on: the passages chosen for the question (with their
    cosine), the tools' results, and the kinds of value the question asks for."""

    passages: tuple[tuple[Passage, float], ...]
    results: tuple[Observation, ...]
    kinds: tuple[AnswerType, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.passages or self.results)

    @property
    def answered(self) -> bool:
        """Whether a tool ran and returned a result."""
        return any(obs.status == "ok" for obs in self.results)

    def states_a_result(self, sentence: str) -> bool:
        """Whether `sentence` states a figure of a tool's result."""
        results = {figure for obs in self.results if obs.status == "ok" for figure in figures(obs.content)}
        return bool(results & set(figures(sentence)))

    def misses_the_kind(self, sentence: str) -> bool:
        """Whether `sentence` states no value of the kinds asked for (a duration,
        a default, an option, the steps: `answer_types`) where the best-ranked passage
        does: asked "how far ahead do flights need to be booked?", a draft about the class
        of travel is true and beside the question, and "14 days" stands in the passage; asked
        "how do I reset my VPN password?", one sentence is no steps. A question back (asking
        for what is missing) states no value and needs none."""
        if not self.kinds or not self.passages or sentence.endswith("?"):
            return False
        return not stated(self.kinds, sentence) and bool(stated(self.kinds, self.passages[0][0].shown))

    def lead(self) -> tuple[str, tuple[str, ...], str]:
        """(lead, source ids, also) when no checked draft leads: a tool's result as a sentence
        (what was asked of a tool is what the tool answered), else the best-ranked passage;
        `also` is the best other passage, cited.

        Measured on the dev questions (docs/answers.md): the best-ranked passage
        leads with the key facts more often than the passage nearest to a refused draft."""
        if self.answered:
            return " ".join(obs.sentence for obs in self.results if obs.status == "ok"), (), ""
        if not self.passages:
            return " ".join(obs.sentence for obs in self.results), (), ""
        best = self.passages[0][0]
        return best.shown, (source_id(best.hit),), self._also(best)

    def source_of(self, sentence: str) -> tuple[tuple[str, ...], str]:
        """(the ids of the documents `sentence` rests on, the best-ranked other passage,
        cited): every passage that holds one of its figures — "160 EUR" may stand in a city
        table and in a category's rule alike — else the one that holds most of its words.
        A checked draft is often true but beside the question (13 of 23 shown on the example
        guild's dev questions), so the passage search ranked first stays in sight. ((), "")
        when a tool answered: the lead rests on its result."""
        if not self.passages or self.answered:
            return (), ""
        words, numbers = set(content_words(sentence)), set(figures(sentence))
        holding = [p for p, _ in self.passages if numbers & set(figures(p.shown))]
        rests_on = holding or [max((p for p, _ in self.passages), key=lambda p: len(words & set(content_words(p.shown))))]
        return tuple(dict.fromkeys(source_id(p.hit) for p in rests_on)), self._also(rests_on[0], sentence)

    def _also(self, lead: Passage, said: str = "") -> str:
        """The best-ranked passage besides `lead`, cited, that says more than the lead (and
        `said`, the draft) already does ("" when none does): words the lead lacks, or a
        figure, path or option it lacks — a table's next row repeats the lead's words, not
        its figures ("Holder: Employees, Monthly limit: 5,000 EUR" after the VPs' 10,000
        EUR), and a file's entry its description's ("~/.ssh/config: This is the per-user
        configuration file")."""
        known = set(content_words(f"{lead.shown} {said}"))
        known_values = _values(f"{lead.shown} {said}")
        for passage, _ in self.passages:
            words = set(content_words(passage.text))
            if passage is lead or not words:
                continue
            if len(words - known) / len(words) > MIN_NEW_WORDS or _values(passage.shown) - known_values:
                return _cited(passage)
        return ""


def _values(text: str) -> set[str]:
    """The figures of `text`, and its paths and options ("~/.ssh/config", "--strip-components"):
    values a reader may be after, which words alone do not tell apart."""
    return set(figures(text)) | set(_LITERAL.findall(text))


def _word_parts(text: str) -> set[str]:
    """The content words of `text`, hyphenated ones in their parts ("Lyon–Paris", "lyon-paris")."""
    return {part for word in content_words(text) for part in word.split("-")}


def _cited(passage: Passage) -> str:
    return f"{passage.shown} [{source_id(passage.hit)}]"


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

    def evidence(
        self, question: str, hits: Sequence[Hit], *, kinds: tuple[AnswerType, ...] | None = None,
        context: str | None = None,
    ) -> list[tuple[Passage, float]]:
        """The passages of `hits` that bear on `question` (a follow-up: in its `context`),
        best first, none below `min_similarity` (`select_passages`)."""
        if not hits or self.embedder is None:
            return []
        chosen = select_passages(question, hits, self.embedder(), count=self.settings.passages,
                                 kinds=kinds, context=context)
        return [(passage, score) for passage, score in chosen if score >= self.settings.min_similarity]

    def findings(
        self, question: str, hits: Sequence[Hit], observations: Sequence[Observation], *,
        context: str | None = None,
    ) -> Findings:
        """What the answer rests on: the passages that bear on `question`, and what the
        tools said, failures included ("no ticket IT-9999" is an answer too). `context`: a
        follow-up's question in context, which tells what it asks when its own words do
        not ("and in Munich?" after a hotel's limit in Paris asks for an amount)."""
        kinds = asked_types(question) or (asked_types(context) if context else ())
        results = tuple(obs for obs in observations if not obs.retryable)
        return Findings(tuple(self.evidence(question, hits, kinds=kinds, context=context)), results, kinds)

    def nothing_found(self) -> Grounding:
        """The answer when neither the documents nor the tools said anything relevant."""
        return Grounding(self.expert, self.settings.strategy, (), "", CheckResult(), "not_found",
                         self.settings.not_found)

    def conclude(self, question: str, found: Findings, model: BaseChatModel) -> tuple[Grounding, AIMessage | None]:
        """(how the answer was made, the model's reply when it drafted one): `model` (the
        expert's) drafts one sentence from `found`, greedily and in at most `max_tokens`
        tokens, and the check decides whether it leads (outcome `checked`) or not
        (`quoted`: `Findings.lead` does). Strategy `extractive` runs no model."""
        if self.settings.strategy == "extractive":
            return Grounding(self.expert, "extractive", found.passages, "", CheckResult(), "quoted",
                             *found.lead()), None
        reply = capped(model, self.settings.max_tokens).invoke(draft_messages(question, found))
        # One sentence was asked for: a small model runs on, and what follows its first
        # sentence is where it invents (measured on the manuals' dev questions).
        draft = next(iter(split_sentences(reply.text)), "")
        evidence = draft_evidence(question, found)
        check = evidence.check(draft)
        # A draft that states the fact and runs on into a clause of its own leads with the
        # start that the check passes (the clause is in the trace's unsupported sentences).
        lead = draft if check.passed else evidence.supported_start(draft)
        # What a tool returned answers what was asked of it: the draft leads only where it
        # states one of the result's figures, else the result's own sentence does. A draft
        # that asks the user's question back answers nothing (asking for a missing ticket
        # number, with a word of its own, is an answer).
        echoed = lead.endswith("?") and _word_parts(lead) <= _word_parts(question)
        if (lead and not echoed and not found.misses_the_kind(lead)
                and (not found.answered or found.states_a_result(lead))):
            grounding = Grounding(self.expert, "grounded", found.passages, draft, check, "checked", lead,
                                  *found.source_of(lead))
        else:
            grounding = Grounding(self.expert, "grounded", found.passages, draft, check, "quoted", *found.lead())
        return grounding, reply

    def checked_answer(
        self, messages: Sequence[BaseMessage], question: str, model: BaseChatModel
    ) -> tuple[Grounding, AIMessage]:
        """A generalist's own answer (no documents, no tools: the fallback), shown only when
        every figure in it is the question's — it has nothing else to take one from."""
        reply = model.invoke(list(messages))
        draft = reply.text.strip()
        check = Evidence([], question, sentences=False).check(draft)
        outcome: Outcome = "checked" if check.passed else "withheld"
        lead = draft if check.passed else self.settings.not_found
        return Grounding(self.expert, self.settings.strategy, (), draft, check, outcome, lead), reply
