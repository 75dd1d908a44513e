"""Experts: a system prompt, a model (base + adapter), knowledge and tools."""

from slmguild.agents.events import Retrieved, ToolCall, ToolResult
from slmguild.agents.expert import Expert, ExpertEvent

__all__ = ["Expert", "ExpertEvent", "Retrieved", "ToolCall", "ToolResult"]
