"""What an expert reports while it works on a turn, besides the answer's tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slmguild.knowledge import Hit
from slmguild.tools import Observation


@dataclass(frozen=True)
class ToolCall:
    """The expert's model asked for a tool (`attempt` counts retries of this step from 0)."""

    expert: str
    tool: str
    arguments: dict[str, Any]
    attempt: int = 0


@dataclass(frozen=True)
class ToolResult:
    """What came of a `ToolCall`: ran (ok/error), or was invalid, unknown or refused."""

    expert: str
    observation: Observation


@dataclass(frozen=True)
class Retrieved:
    """The chunks the expert's search found for the question, best first."""

    expert: str
    query: str
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Handoff:
    """The expert passed the turn to another expert (with the built-in `handoff` tool)."""

    expert: str
    to: str
    reason: str
