"""What an expert reports while it works on a turn, besides the answer's tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from slmguild.knowledge import Hit
from slmguild.tools import Observation


@dataclass(frozen=True)
class ToolCall:
    """The expert asked for a tool (`attempt` counts retries of this step from 0).

    `chosen_by` says who decided to call it: the model, or the labelled request nearest
    the user's (`tool_choice: nearest`; the model then filled in the arguments).
    """

    expert: str
    tool: str
    arguments: dict[str, Any]
    attempt: int = 0
    chosen_by: Literal["model", "nearest"] = "model"


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
