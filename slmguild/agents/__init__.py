"""Experts: a system prompt, a model (base + adapter), knowledge and tools."""

from slmguild.agents.events import Handoff, Retrieved, StepTimed, ToolCall, ToolResult
from slmguild.agents.expert import Expert, ExpertEvent

__all__ = ["Expert", "ExpertEvent", "Handoff", "Retrieved", "StepTimed", "ToolCall", "ToolResult"]
