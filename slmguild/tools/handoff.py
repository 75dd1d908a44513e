"""The built-in `handoff` tool: an expert passes the turn to another expert.

An expert lists `handoff` among its tools to be allowed to use it; its argument is an
enum of the guild's other experts, so a constrained call can only name a real one.
The tool does nothing itself: the expert's loop stops at a successful handoff and the
orchestrator gives the turn to the expert it names.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, create_model

HANDOFF = "handoff"


def handoff_tool(experts: list[str]) -> BaseTool:
    """A `handoff` tool whose `expert` argument may name only `experts`."""
    arguments: type[BaseModel] = create_model(
        "HandoffArguments",
        expert=(Literal[tuple(experts)], Field(description="The expert who owns this request")),  # type: ignore[arg-type]  # built at run time
        reason=(str, Field(max_length=200, description="Why that expert owns it, in a few words")),
    )

    def handoff(expert: str, reason: str) -> str:
        return f"handing the request to {expert}"

    return StructuredTool.from_function(
        handoff,
        name=HANDOFF,
        description="Pass the request to another expert when it is theirs, not yours.",
        args_schema=arguments,
    )
