"""A judge model's 1–5 rating of an answer, decoded under a JSON schema.

The rubric says what a good answer does ("gives the VPN reset URL and the help desk
extension"); with a reference answer, the judge also checks the answer against it.
Constrained decoding makes even a small judge return a well-formed rating.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

FACTS_RUBRIC = "The answer states the reference's facts correctly; style and length do not matter."


class Rating(BaseModel):
    """The judge's verdict: a score from 1 (fails the rubric) to 5 (meets it fully)."""

    score: int = Field(ge=1, le=5)
    reason: str = Field("", max_length=400)


class Judge:
    """Rates answers with `model` (build it once, rate many)."""

    def __init__(self, model: BaseChatModel) -> None:
        self.rater = model.with_structured_output(Rating, method="json_schema")

    def rate(self, question: str, answer: str, *, rubric: str = FACTS_RUBRIC, reference: str | None = None) -> Rating:
        """How well `answer` to `question` meets `rubric` (and matches `reference`, if given)."""
        given = f"Question: {question}\n"
        if reference is not None:
            given += f"Reference answer: {reference}\n"
        return Rating.model_validate(self.rater.invoke([
            SystemMessage(
                "You grade an assistant's answer. Score it from 1 (fails the rubric) to 5 "
                f"(meets it fully), and give a one-sentence reason.\nRubric: {rubric}"
            ),
            HumanMessage(f"{given}Answer: {answer}"),
        ]))
