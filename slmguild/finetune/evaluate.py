"""Before/after evaluation of an adapter on held-out questions and on control questions.

Each question is answered twice by the same served base, without and with the adapter,
with greedy decoding, and scored against the reference answer with the metrics of
`slmguild.evaluation` (exact, contains key facts, ROUGE-L, BLEU, optional judge).

Control questions are off-domain ones the base answers: an adapter that teaches its
domain but breaks those is caught by their before/after scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from slmguild.evaluation import AnswerScores, Judge, contains_facts, score_answers
from slmguild.finetune.datasets import Example
from slmguild.finetune.training import conversation


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

    before: AnswerScores
    after: AnswerScores
    control_before: AnswerScores | None = None
    control_after: AnswerScores | None = None
    answers: list[Answered] = field(default_factory=list)
    control_answers: list[Answered] = field(default_factory=list)

    @property
    def control_kept(self) -> float | None:
        """Of the control questions the base answered right, the share still right after."""
        right = [item for item in self.control_answers if contains_facts(item.before, item.reference)]
        if not right:
            return None
        return sum(contains_facts(item.after, item.reference) for item in right) / len(right)


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
    rater = Judge(judge) if judge is not None else None

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

    def scores(answered: list[Answered], side: str) -> AnswerScores:
        answers = [getattr(item, side) for item in answered]
        references = [item.reference for item in answered]
        ratings = [rater.rate(item.question, answer, reference=item.reference).score
                   for item, answer in zip(answered, answers, strict=True)] if rater is not None else None
        return score_answers(answers, references, ratings)

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
