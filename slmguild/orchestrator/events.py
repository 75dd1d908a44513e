"""What a turn streams to its caller, and what it returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from slmguild.agents.events import Handoff, PendingCall, Retrieved, ToolCall, ToolResult
from slmguild.orchestrator.trace import TurnTrace


@dataclass(frozen=True)
class Routed:
    """The turn was given to `expert`; `reason` says why (forced, fallback, router scores)."""

    expert: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Escalated:
    """The turn went to the escalation model; `reason` says why."""

    reason: str
    model: str


@dataclass(frozen=True)
class Planned:
    """The request spans several experts: it was split into these (expert, question) parts."""

    parts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Token:
    """A piece of the answer, as the model produced it (`expert` says whose)."""

    text: str
    expert: str = ""


@dataclass(frozen=True)
class Reply:
    """A finished turn: the answer and where it came from.

    Or a turn that stopped for approval: `pending` is the call that waits, `text` asks
    for it, and `Guild.resume(reply.session, ...)` answers it.
    """

    text: str
    expert: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    trace: TurnTrace = field(default_factory=TurnTrace)
    session: str | None = None
    pending: PendingCall | None = None

    @property
    def sources(self) -> list[dict[str, Any]]:
        """The passages the answer was made from, best first (`id`: the document it cites,
        `chunk`, `text`, `similarity`): the evidence behind the answer's lead, which the
        answer itself does not paste. Empty for an answer that rests on no document."""
        return [passage.model_dump(mode="json") for part in self.trace.all_parts() if part.answer
                for passage in part.answer.passages]

    def as_json(self) -> dict[str, Any]:
        """The reply as plain JSON data (`slmguild ask --json`)."""
        return {**{key: value for key, value in vars(self).items() if key not in ("trace", "pending")},
                "pending": asdict(self.pending) if self.pending is not None else None,
                "sources": self.sources,
                "trace": self.trace.model_dump(mode="json")}


@dataclass(frozen=True)
class Done:
    """The last event of a turn."""

    reply: Reply


Event = Routed | Planned | Escalated | Handoff | Retrieved | Token | ToolCall | ToolResult | Done


def reply_of(events: Iterator[Event]) -> Reply:
    """The `Reply` that ends a turn's events."""
    for event in events:
        if isinstance(event, Done):
            return event.reply
    raise AssertionError("a turn always ends with Done")


async def areply_of(events: AsyncIterator[Event]) -> Reply:
    """The `Reply` that ends a turn's events, for asyncio callers."""
    async for event in events:
        if isinstance(event, Done):
            return event.reply
    raise AssertionError("a turn always ends with Done")


__all__ = [
    "Done", "Escalated", "Event", "Handoff", "PendingCall", "Planned", "Reply", "Retrieved", "Routed", "Token",
    "ToolCall", "ToolResult", "areply_of", "reply_of",
]
