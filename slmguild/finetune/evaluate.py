"""Before/after evaluation of an adapter on held-out questions and on control questions.

Each question is answered twice by the same served base, without and with the adapter,
with greedy decoding, and scored against the reference answer:

- exact: the answer equals the reference (case, spacing and end punctuation aside);
- contains: the answer contains the reference's key facts — its tokens with a digit, a
  URL or an e-mail address, or the whole reference when it has none ("Paris.");
- ROUGE-L: F1 of the longest common word subsequence (Lin, 2004);
- judge (optional): a larger model's 1–5 rating of the answer against the reference.

Control questions are off-domain ones the base answers: an adapter that teaches its
domain but breaks those is caught by their before/after scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field

from slmguild.finetune.datasets import Example
from slmguild.finetune.training import conversation

_KEY_FACT = re.compile(r"\S*(?:\d|://|@)\S*")
_WORD = re.compile(r"\w+(?:[.'@/:-]\w+)*")
_EDGE_PUNCTUATION = ".,;:!?\"'()"


@dataclass(frozen=True)
class Scores:
    """Mean scores of a set of answers (each in 0–1; judge in 1–5, None when not asked)."""

    exact: float
    contains: float
    rouge_l: float
    judge: float | None = None


@dataclass(frozen=True)
class Answered:
    """One question with its reference and the answers without and with the adapter."""

    question: str
    reference: str
    before: str
    after: str


@dataclass
class EvalReport:
    """Scores before and after, on the held-out split and on the control questions."""

    before: Scores
    after: Scores
    control_before: Scores | None = None
    control_after: Scores | None = None
    answers: list[Answered] = field(default_factory=list)
    control_answers: list[Answered] = field(default_factory=list)

    @property
    def control_kept(self) -> float | None:
        """Of the control questions the base answered right, the share still right after."""
        right = [item for item in self.control_answers if contains_facts(item.before, item.reference)]
        if not right:
            return None
        return sum(contains_facts(item.after, item.reference) for item in right) / len(right)


class _Rating(BaseModel):
    score: int = Field(ge=1, le=5, description="5: same facts as the reference; 1: wrong or unrelated")


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(_EDGE_PUNCTUATION)


def key_facts(reference: str) -> list[str]:
    """What an answer must contain to be right: the reference's numbers, URLs and
    addresses, or the whole (normalized) reference when it has none."""
    facts = [token.strip(_EDGE_PUNCTUATION).lower() for token in _KEY_FACT.findall(reference)]
    return [fact for fact in facts if fact] or [_normal(reference)]


def contains_facts(answer: str, reference: str) -> bool:
    """Whether `answer` states every key fact of `reference`."""
    normal = _normal(answer)
    return all(fact in normal for fact in key_facts(reference))


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased words (the longest common subsequence)."""
    candidate, target = _WORD.findall(answer.lower()), _WORD.findall(reference.lower())
    if not candidate or not target:
        return 0.0
    previous = [0] * (len(target) + 1)
    for word in candidate:
        current = [0]
        for index, other in enumerate(target):
            current.append(previous[index] + 1 if word == other else max(previous[index + 1], current[index]))
        previous = current
    common = previous[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(candidate), common / len(target)
    return 2 * precision * recall / (precision + recall)


def score(answers: Sequence[str], references: Sequence[str], ratings: Sequence[int] | None = None) -> Scores:
    """Mean exact, contains and ROUGE-L scores of `answers` against `references`."""
    pairs = list(zip(answers, references, strict=True))
    count = max(len(pairs), 1)
    return Scores(
        exact=sum(_normal(a) == _normal(r) for a, r in pairs) / count,
        contains=sum(contains_facts(a, r) for a, r in pairs) / count,
        rouge_l=sum(rouge_l(a, r) for a, r in pairs) / count,
        judge=sum(ratings) / len(ratings) if ratings else None,
    )


def judge_rating(rater: Runnable, question: str, reference: str, answer: str) -> int:
    """A larger model's 1–5 rating of `answer`; `rater` is `judge_rater(model)`."""
    rating = rater.invoke([
        SystemMessage("You grade answers against a reference answer. Rate only whether the answer "
                      "states the reference's facts correctly; ignore style and length."),
        HumanMessage(f"Question: {question}\nReference: {reference}\nAnswer: {answer}"),
    ])
    return rating.score


def judge_rater(judge: BaseChatModel) -> Runnable:
    """`judge` decoding a 1–5 rating under a JSON schema (build it once, rate many)."""
    return judge.with_structured_output(_Rating, method="json_schema")


def evaluate(
    before: BaseChatModel,
    after: BaseChatModel,
    examples: Sequence[Example],
    *,
    control: Sequence[Example] = (),
    system_prompt: str | None = None,
    judge: BaseChatModel | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Answer the `eval` split of `examples` (and `control`) without and with the adapter.

    `before` and `after` are the same base model without and with the adapter; decode
    them greedily (temperature 0) for a comparison that means something.
    """
    held_out = [example for example in examples if example.split == "eval"]
    total, done = 2 * (len(held_out) + len(control)), 0
    rater = judge_rater(judge) if judge is not None else None

    def answer_all(items: Sequence[Example], system: str | None) -> list[Answered]:
        nonlocal done
        answered = []
        for example in items:
            messages = conversation(example, system)[:-1]
            replies = []
            for model in (before, after):
                replies.append(model.invoke(_langchain(messages)).text.strip())
                done += 1
                if progress:
                    progress(done, total)
            answered.append(Answered(messages[-1]["content"], example.messages[-1].content, *replies))
        return answered

    def scores(answered: list[Answered], side: str) -> Scores:
        answers = [getattr(item, side) for item in answered]
        references = [item.reference for item in answered]
        ratings = [judge_rating(rater, item.question, item.reference, getattr(item, side))
                   for item in answered] if rater is not None else None
        return score(answers, references, ratings)

    answers = answer_all(held_out, system_prompt)
    # Control questions are off-domain: asked as a user would ask the base, under the
    # expert's prompt all the same, since that is how the served expert meets them.
    control_answers = answer_all(control, system_prompt)
    report = EvalReport(before=scores(answers, "before"), after=scores(answers, "after"),
                        answers=answers, control_answers=control_answers)
    if control_answers:
        report.control_before = scores(control_answers, "before")
        report.control_after = scores(control_answers, "after")
    return report


def _langchain(messages: list[dict[str, str]]) -> list[SystemMessage | HumanMessage | AIMessage]:
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[message["role"]](message["content"]) for message in messages]
