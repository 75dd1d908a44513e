"""Training data that is an expert's own work, in the very prompts it is served with.

An adapter that memorizes facts is the wrong job for a small model: the facts are in the
expert's knowledge store. What it can learn is the expert's work (docs/finetune.md):

- **Grounded answers** (retrieval-augmented fine-tuning, RAFT: Zhang et al. 2024). Each
  question goes through the expert's own search and passage selection, and becomes the
  draft prompt of its grounded answer (`agents.grounded.draft_messages`). The target is
  the reference answer, kept only when the serving-time check finds it supported by those
  passages (a target the check would refuse teaches the model to write refused drafts);
  a reference in other words than the documents' gives way to the passages' sentence that
  says most of it.
  For a share of the questions the passages of the answer's document are taken out, and
  the target says the notes do not answer it: with only distractors, the model learns to
  say so instead of inventing.
- **Tool steps**: each of the expert's labelled requests (its tools' examples, and the
  requests answered without a tool) as the step decision it makes at serving time, in the
  step prompt (`Expert.step_messages`), shown the nearest *other* demonstrations.

Rows carry a split: the questions of a seeded share of the expert's documents are `eval`,
so that the gain can be measured on documents the adapter never saw answered.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from slmguild.agents import Expert
from slmguild.agents.answer_check import Evidence
from slmguild.agents.grounded import Findings, draft_evidence, draft_messages
from slmguild.errors import SlmguildError
from slmguild.finetune.datasets import Example, Message, Split, dedupe
from slmguild.knowledge.chunks import Hit
from slmguild.knowledge.words import content_words

NOT_IN_NOTES = "The notes do not say."  # a draft the check refuses: the quoted findings are shown alone
QUOTED_OVERLAP = 0.5  # share of the reference's content words a passage's sentence must say to stand for it
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Question:
    """A question the expert owns, its reference answer and, if known, the document that holds it."""

    text: str
    answer: str
    source: str | None = None  # the answer's document, as the knowledge store names it (docs/it/vpn.md)


@dataclass
class WorkCounts:
    """How many rows of each kind were made, and how many questions were left out and why."""

    answered: int = 0  # the reference (or the passages' sentence that says it) from passages that hold it
    not_in_notes: int = 0  # distractors only: "the notes do not say"
    unsupported: int = 0  # left out: the check does not find the reference in the passages
    nothing_found: int = 0  # left out: the search found nothing (the expert says so without a model)
    steps: int = 0  # tool-step decisions
    duplicates: int = 0  # rows dropped as duplicates of another


@dataclass(frozen=True)
class ExpertWork:
    """The rows of an expert's work, deduplicated, what made them and the documents held out."""

    examples: list[Example]
    counts: WorkCounts
    held_out: set[str]  # documents whose questions are the eval split


def expert_work(
    expert: Expert,
    questions: Sequence[Question],
    *,
    distractor_share: float = 0.2,
    held_out_share: float = 0.2,
    steps: bool = True,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ExpertWork:
    """Everything `slmguild finetune data work` writes: the grounded answers of `questions`
    (those of a seeded `held_out_share` of the documents are the eval split), the tool steps
    when `steps` and the expert has tools, duplicates dropped."""
    held_out = held_out_documents(expert, held_out_share, seed)
    examples, counts = grounded_examples(expert, questions, distractor_share=distractor_share,
                                         held_out=held_out, seed=seed, progress=progress)
    if steps and expert.tools:
        stepped = tool_step_examples(expert)
        examples += stepped
        counts.steps = len(stepped)
    unique, counts.duplicates = dedupe(examples)
    return ExpertWork(unique, counts, held_out)


def questions_from_rows(rows: Iterable[dict[str, Any]], expert: str) -> list[Question]:
    """The expert's questions from JSON-lines rows: `{"question", "answer", "source"?, "expert"?}`
    (rows of another expert are skipped) or a chat example (its last user message and answer)."""
    found = []
    for row in rows:
        if row.get("expert") not in (None, expert):
            continue
        if "messages" in row:
            messages = row["messages"]
            user = [m["content"] for m in messages if m["role"] == "user"]
            found.append(Question(user[-1], messages[-1]["content"]))
        elif row.get("question") and row.get("answer"):
            found.append(Question(str(row["question"]), str(row["answer"]), row.get("source")))
    return found


def held_out_documents(expert: Expert, share: float, seed: int = 0) -> set[str]:
    """A seeded `share` of the expert's documents whose questions are kept for evaluation."""
    if expert.knowledge is None:
        return set()
    sources = sorted(name for name, _ in expert.knowledge.base.source_files(expert.name))
    count = round(share * len(sources))
    return set(random.Random(seed).sample(sources, count)) if count else set()


def grounded_examples(
    expert: Expert,
    questions: Sequence[Question],
    *,
    distractor_share: float = 0.2,
    held_out: Collection[str] = frozenset(),
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Example], WorkCounts]:
    """RAFT rows for `expert`: each question's draft prompt from its own search, and the
    answer the check accepts (or "the notes do not say", with distractors only)."""
    if expert.grounded is None or expert.knowledge is None:
        raise SlmguildError(f"expert '{expert.name}' has no grounded answer over documents: nothing to train on")
    rng = random.Random(seed)
    counts = WorkCounts()
    examples = []
    for done, question in enumerate(questions, 1):
        hits = expert.retrieve(question.text)
        found = expert.grounded.findings(question.text, hits, ())
        if found:
            answer_document = question.source or _source(found.passages[0][0].hit)
            split: Split = "eval" if answer_document in held_out else "train"
            if rng.random() < distractor_share:
                # Searched twice as deep: the expert's own top hits are mostly the answer's document.
                deeper = expert.knowledge.base.search(expert.name, question.text, top_k=2 * expert.knowledge.top_k)
                others = [hit for hit in deeper if _source(hit) != answer_document]
                distractors = expert.grounded.findings(question.text, others, ())
                if distractors:
                    examples.append(_example(draft_messages(question.text, distractors), NOT_IN_NOTES, split))
                    counts.not_in_notes += 1
            supported = draft_evidence(question.text, found).check(question.answer).passed
            target = question.answer if supported else _quoted_answer(question, found)
            if target is not None:
                examples.append(_example(draft_messages(question.text, found), target, split))
                counts.answered += 1
            else:
                counts.unsupported += 1
        else:
            counts.nothing_found += 1
        if progress:
            progress(done, len(questions))
    return examples, counts


def tool_step_examples(expert: Expert) -> list[Example]:
    """The expert's labelled requests as the step decisions it makes when served: the step
    prompt with the nearest other demonstrations, and the step it should write."""
    assert expert.demonstrations is not None
    examples = []
    for item in expert.demonstrations.items:
        selection = expert.demonstrations.select(item.request, leave_out=item.request)
        messages = expert.step_messages(item.request, (), selection.shown)
        examples.append(_example(messages, item.step(), "train"))
    return examples


def _quoted_answer(question: Question, found: Findings) -> str | None:
    """The sentence of the passages that says most of what the reference says (a reference
    in other words than the documents' fails the check), or None when none says half of it."""
    wanted = set(content_words(question.answer))
    sentences = [line.strip(" -") for passage, _ in found.passages for line in _SENTENCES.split(passage.shown)]
    scored = [(len(wanted & set(content_words(sentence))) / len(wanted), sentence)
              for sentence in sentences if wanted and sentence]
    # A sentence stands for the reference only if it holds every figure of it too.
    scored = [(share, sentence) for share, sentence in scored
              if not Evidence([sentence], question.text).check(question.answer).unsupported_figures]
    share, best = max(scored, default=(0.0, ""))
    return best if share >= QUOTED_OVERLAP else None


def _example(messages: Sequence[BaseMessage], target: str, split: Split) -> Example:
    roles = {SystemMessage: "system", HumanMessage: "user", AIMessage: "assistant"}
    rendered = [Message(role=roles[type(message)], content=message.text) for message in messages]
    return Example(messages=[*rendered, Message(role="assistant", content=target)], split=split)


def _source(hit: Hit) -> str:
    return Path(hit.chunk.source).as_posix()
