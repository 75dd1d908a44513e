"""The trace of a turn: how its answer was made, as one typed model.

`Reply.trace` is a `TurnTrace`; the session store keeps its JSON, `Guild.session`
reads it back, the CLI prints it, the HTTP API and the web page receive it. Its JSON
schema (`TurnTrace.model_json_schema()`, `GET /api/schema/trace`) is the wire format.
Traces saved by earlier versions read back with the fields they lack left empty.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmguild.agents.events import PendingCall
from slmguild.orchestrator.planner import Plan


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")  # fields of other versions are dropped, not fatal


class RouteTrace(_Record):
    """Who the turn went to and why (`expert` is None when it was split across several);
    `query`: the question in context that routing and search used, for a follow-up
    (None: the question as asked)."""

    expert: str | None = None
    reason: str = ""
    query: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    routing_s: float | None = None


class SourceTrace(_Record):
    """A chunk the expert's search found: its citation id, where it is, how it scored."""

    id: str
    chunk: str
    source: str
    heading: str | None = None
    score: float
    similarity: float | None = None
    rank: int
    snippet: str = ""


class ToolCallTrace(_Record):
    """A tool call and its outcome (`approval`: what the user answered, when it waited;
    `approval_by`: who answered, `approval_at`: when, ISO 8601)."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: Literal["ok", "error", "invalid", "refused", "unknown", "declined"]
    content: str = ""
    duration_s: float = 0.0
    expert: str = ""
    approval: Literal["approved", "edited", "refused", "abandoned", "unasked"] | None = None
    approval_by: str | None = None
    approval_at: str | None = None


class PassageTrace(_Record):
    """A passage a grounded answer was made from."""

    id: str
    chunk: str
    text: str
    similarity: float


class AnswerTrace(_Record):
    """How a grounded answer was made: its passages, the draft, what the check found."""

    strategy: str
    passages: list[PassageTrace] = Field(default_factory=list)
    draft: str = ""
    lead: str = ""
    unsupported_figures: list[str] = Field(default_factory=list)
    unsupported_sentences: list[str] = Field(default_factory=list)
    adds_nothing: bool = False
    outcome: str


class StepTrace(_Record):
    """One timed step of the turn, with what the engine did in it (llama.cpp's timings)."""

    step: str
    seconds: float
    engine: dict[str, float] = Field(default_factory=dict)
    skipped: str | None = None  # why the step was not run


class TurnTrace(_Record):
    """How a turn's answer was made.

    A multi-expert turn has its `plan` and one trace per part in `parts`; the others
    have the route, the search, the tool calls, the answer's making and the timings.
    `route` is the last route the turn took; `rerouted_from`, the ones it left before, in
    order (the expert that handed off, the one whose documents said nothing relevant
    before the turn escalated). `message`, `expert` and `text` are filled in when the
    turn ends (a turn that waits for approval has `pending` instead).
    """

    message: str = ""
    expert: str = ""
    text: str = ""
    route: RouteTrace | None = None
    rerouted_from: list[RouteTrace] = Field(default_factory=list)
    model: str | None = None
    retrieved: list[SourceTrace] = Field(default_factory=list)
    tools: list[ToolCallTrace] = Field(default_factory=list)
    answer: AnswerTrace | None = None
    pending: PendingCall | None = None
    plan: Plan | None = None
    parts: list[TurnTrace] = Field(default_factory=list)
    usage: dict[str, int] = Field(default_factory=dict)
    steps: list[StepTrace] = Field(default_factory=list)
    latency_s: float | None = None
    first_token_s: float | None = None
    notice: str | None = None

    def all_parts(self) -> list[TurnTrace]:
        """The traces of the experts that worked on the turn: its parts, or itself."""
        return self.parts or [self]
