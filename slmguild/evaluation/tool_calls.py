"""Tool calling of an expert, scored on labelled requests: the tool it ran first and its
arguments, and calls made where no tool was needed.

JSON lines `{"prompt": ..., "expert": ..., "tool": NAME or null, "arguments": {...}}`.
Each prompt runs through the expert's tool phase only (its choices, retries with
feedback and the real tools; a call that waits for approval is run as if approved, since
what is measured is the decision), not its answer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slmguild.agents.events import ToolResult
from slmguild.evaluation.metrics import rouge_l
from slmguild.tools.grounding import free_text
from slmguild.tools.steps import argument_schema

if TYPE_CHECKING:
    from slmguild.agents import Expert

FREE_TEXT_MATCH = 0.5  # ROUGE-L F1 from which a free-text argument says what the label says


@dataclass(frozen=True)
class ToolCase:
    """A request, the expert it is for, the tool it needs (None: none) and its arguments."""

    prompt: str
    expert: str
    tool: str | None
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolOutcome:
    """What the expert's tool phase did with one case."""

    case: ToolCase
    calls: int  # calls proposed, valid or not
    valid_calls: int  # calls that named a known tool with schema-valid arguments
    ran: tuple[str, ...]  # the tools that really ran, in order
    right_tool: bool
    right_arguments: bool
    seconds: float


@dataclass
class ToolReport:
    """Tool phase scores: on the cases that need a tool, the share whose first tool run is
    the right one (and with the right arguments); on those that need none, the share
    where a tool ran anyway (`false_calls`)."""

    outcomes: list[ToolOutcome]

    @property
    def needing(self) -> list[ToolOutcome]:
        return [item for item in self.outcomes if item.case.tool is not None]

    @property
    def needing_none(self) -> list[ToolOutcome]:
        return [item for item in self.outcomes if item.case.tool is None]

    @property
    def right_tool(self) -> int:
        return sum(item.right_tool for item in self.needing)

    @property
    def right_arguments(self) -> int:
        return sum(item.right_arguments for item in self.needing)

    @property
    def false_calls(self) -> int:
        return sum(bool(item.ran) for item in self.needing_none)

    @property
    def p50_s(self) -> float:
        return statistics.median(item.seconds for item in self.outcomes) if self.outcomes else 0.0


def tool_case_rows(rows: Sequence[dict[str, Any]]) -> list[ToolCase]:
    """Tool cases from JSON-lines rows (`prompt`, `expert`, `tool`, optional `arguments`)."""
    return [ToolCase(str(row["prompt"]), str(row["expert"]), row.get("tool"), dict(row.get("arguments") or {}))
            for row in rows]


def same(expected: Any, actual: Any, spec: dict[str, Any]) -> bool:
    """Argument equality as a person would judge it, `spec` being the argument's schema.

    A left-out argument has its default; numbers agree to 1e-6; free text (a ticket's
    summary: no enum, pattern or format) says the same when its ROUGE-L F1 with the
    label reaches FREE_TEXT_MATCH; anything else is compared regardless of case and spacing.
    """
    if actual is None:
        actual = spec.get("default")
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) < 1e-6
    if free_text(spec):
        return rouge_l(str(actual or ""), str(expected)) >= FREE_TEXT_MATCH
    return str(expected).strip().lower() == str(actual).strip().lower()


async def run_tool_case(expert: Expert, case: ToolCase) -> ToolOutcome:
    """Run the expert's tool phase on the case's prompt and score what it did."""
    started = time.perf_counter()
    observations = [event.observation async for event in expert.tool_phase(case.prompt)
                    if isinstance(event, ToolResult)]
    seconds = time.perf_counter() - started
    ran = [o for o in observations if o.status in ("ok", "error")]  # the tool really ran
    right_tool = bool(ran) and ran[0].tool == case.tool
    right_arguments = False
    if right_tool:
        specs = argument_schema(expert.parser.tools[ran[0].tool]).get("properties", {})
        right_arguments = all(same(value, ran[0].arguments.get(key), specs.get(key, {}))
                              for key, value in case.arguments.items())
    return ToolOutcome(
        case, len(observations), sum(o.status not in ("invalid", "unknown") for o in observations),
        tuple(o.tool for o in ran), right_tool, right_arguments, seconds,
    )
