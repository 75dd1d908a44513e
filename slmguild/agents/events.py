"""What an expert reports while it works on a turn, besides the answer's tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """What came of a `ToolCall`: ran (ok/error), or was invalid, unknown, refused, or
    declined (a call that waited for approval and did not get it).

    `approval` says what the user answered, for a call that waited for approval;
    `approval_by` and `approval_at` who answered (when known) and when.
    """

    expert: str
    observation: Observation
    approval: Literal["approved", "edited", "refused", "abandoned", "unasked"] | None = None
    approval_by: str | None = None
    approval_at: str | None = None


@dataclass(frozen=True)
class PendingCall:
    """A call that changes something, waiting for the user's approval before it runs.

    The turn stops here and is saved; `Guild.resume` answers it (run, edit, or refuse).
    """

    expert: str
    tool: str
    arguments: dict[str, Any]
    call_id: str | None = None  # the native call's id, when the model gave one

    def describe(self) -> str:
        """The call as the user reads it: `create_ticket(summary='...', priority='high')`."""
        shown = ", ".join(f"{key}={value!r}" for key, value in self.arguments.items())
        return f"{self.tool}({shown})"


@dataclass(frozen=True)
class Approval:
    """The user's answer to a `PendingCall`: run it (with `arguments` instead, if edited), or not.

    `reason` says why an unapproved call did not run: the user refused it, moved on to
    another request (abandoned), or nobody could be asked (an expert running alone).
    `by` is who answered (a user's name, when the caller knows it), `at` when (ISO 8601).
    """

    approved: bool
    arguments: dict[str, Any] | None = None
    reason: Literal["refused", "abandoned", "unasked"] = "refused"
    by: str | None = None
    at: str | None = None

    @property
    def outcome(self) -> Literal["approved", "edited", "refused", "abandoned", "unasked"]:
        """What the trace records of the call's approval."""
        if self.approved:
            return "edited" if self.arguments is not None else "approved"
        return self.reason


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


@dataclass(frozen=True)
class StepTimed:
    """How long one step of the expert's turn took (the trace's breakdown of a turn).

    `step`: `retrieve` (the search), `tool_step` (one decision: call a tool, or answer),
    `answer` (the answer's generation, and for a grounded answer the check too). `engine`:
    what the engine did in it, when it generated: prompt tokens evaluated, prompt tokens
    reused from its cache (a prefix it had evaluated before), tokens generated, and the
    milliseconds (`prompt_n`, `cache_n`, `prompt_ms`, `predicted_n`, `predicted_ms`:
    llama.cpp's timings; empty for backends that give none). `skipped`:
    why a step was not run (its seconds are the time it took to decide so).
    """

    expert: str
    step: Literal["retrieve", "tool_step", "answer"]
    seconds: float
    engine: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None

    def describe(self) -> dict[str, Any]:
        """The trace's record of the step."""
        record: dict[str, Any] = {"step": self.step, "seconds": round(self.seconds, 4)}
        if self.engine:
            record["engine"] = self.engine
        if self.skipped:
            record["skipped"] = self.skipped
        return record


def engine_timings(metadata: dict[str, Any] | None) -> dict[str, float]:
    """llama.cpp's token counts and times from a reply's `response_metadata` (empty when
    the backend gives none)."""
    timings = (metadata or {}).get("timings") or {}
    keys = ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms")
    return {key: round(float(timings[key]), 2) for key in keys if key in timings}
