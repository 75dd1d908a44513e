"""Multi-expert turns: split a request that spans several experts into sub-questions.

"I'm flying to Berlin next week: how many leave days do I have and what is the hotel
limit?" is two questions for two experts. The default splitter is deterministic: the
request is cut at sentence ends and at "and"/"also" before a new question, each piece
is routed on its own, and when the pieces land with two or more experts the turn is
split. A preamble before a colon ("I'm flying to Berlin next week:") is context that
every sub-question keeps. `LLMPlanner` asks the model instead, under a JSON schema
whose expert field is an enum of the guild's experts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from slmguild.knowledge.words import content_words
from slmguild.orchestrator.routers import ScoringRouter

_QUESTION_START = r"(?:how|what|when|where|who|which|why|can|could|do|does|did|is|are|am|should|will|would|may)"
_CLAUSE_BREAK = re.compile(
    rf"(?<=[?.!;])\s+|\s*,?\s+(?:and|also|plus)\s+(?={_QUESTION_START}\b)", re.IGNORECASE
)
# A piece with fewer content words ("what do I do now?", "and?", "Hi!") is not a question
# of its own: routed alone it went to whichever expert was nearest ("oops, paid for a
# family dinner with the company Visa. what do I do now?" became finance + IT).
_MIN_CONTENT_WORDS = 2


class Part(BaseModel):
    """One expert's share of a request."""

    expert: str
    question: str = Field(min_length=1, max_length=400)


class Plan(BaseModel):
    """The sub-questions of a request, each with the expert that answers it."""

    parts: list[Part] = Field(min_length=1, max_length=4)

    @property
    def experts(self) -> list[str]:
        return list(dict.fromkeys(part.expert for part in self.parts))


def split_by_clauses(message: str, router: ScoringRouter) -> Plan | None:
    """A plan when the request's clauses belong to two or more experts, else None."""
    preamble, _, body = message.rpartition(":") if ":" in message[:120] else ("", "", message)
    pieces = _questions([piece.strip() for piece in _CLAUSE_BREAK.split(body) if piece and piece.strip()])
    if len(pieces) < 2:
        return None
    owners = [router.decide(router.scores(piece)).expert for piece in pieces]
    if None in owners or len(set(owners)) < 2:
        return None
    merged: dict[str, list[str]] = {}
    for owner, piece in zip(owners, pieces, strict=True):
        merged.setdefault(owner, []).append(piece)  # type: ignore[arg-type]
    context = f"{preamble.strip()}: " if preamble.strip() else ""
    return Plan(parts=[Part(expert=e, question=context + " ".join(q)) for e, q in merged.items()])


def _questions(pieces: list[str]) -> list[str]:
    """`pieces` with each one that says nothing on its own joined to its neighbour: the
    piece before it, or for a leading one ("Hi!"), the piece after it."""
    joined: list[str] = []
    pending = ""  # leading pieces without content, waiting for one with some
    for piece in pieces:
        if len(content_words(piece)) >= _MIN_CONTENT_WORDS:
            joined.append(f"{pending} {piece}".strip())
            pending = ""
        elif joined:
            joined[-1] += f" {piece}"
        else:
            pending = f"{pending} {piece}".strip()
    return joined


class LLMPlanner:
    """The model splits the request under a schema that allows only the guild's experts."""

    def __init__(self, model: BaseChatModel, descriptions: dict[str, str]) -> None:
        self.model = model
        self.descriptions = descriptions

    def plan(self, message: str) -> Plan | None:
        names: Sequence[str] = list(self.descriptions)
        schema = Plan.model_json_schema()
        schema["$defs"]["Part"]["properties"]["expert"]["enum"] = list(names)
        listing = "\n".join(f"- {name}: {text}" for name, text in self.descriptions.items())
        messages = [
            SystemMessage(
                "Split the user's request into one question per expert who must answer a part "
                f"of it. Experts:\n{listing}"
            ),
            HumanMessage(message),
        ]
        try:
            raw = self.model.with_structured_output(schema, method="json_schema").invoke(messages)
            plan = Plan.model_validate(raw)
        except (ValidationError, ValueError):
            return None  # no valid plan: the turn goes to one expert as usual
        return plan if len(plan.experts) >= 2 else None
