"""What a turn streams to its caller, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slmguild.agents.events import Retrieved, ToolCall, ToolResult


@dataclass(frozen=True)
class Routed:
    """The turn was given to `expert`; `reason` says why (forced, fallback, router scores)."""

    expert: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    """A piece of the answer, as the model produced it."""

    text: str


@dataclass(frozen=True)
class Reply:
    """A finished turn: the answer and where it came from."""

    text: str
    expert: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """The last event of a turn."""

    reply: Reply


Event = Routed | Retrieved | Token | ToolCall | ToolResult | Done

__all__ = ["Done", "Event", "Reply", "Retrieved", "Routed", "Token", "ToolCall", "ToolResult"]
