"""Experts: a system prompt, a model (base + adapter), knowledge and tools."""

from slmguild.agents.events import (
    Approval,
    Handoff,
    PendingCall,
    Retrieved,
    StepTimed,
    ToolCall,
    ToolResult,
)
from slmguild.agents.expert import Expert, ExpertEvent, ExpertTurn

__all__ = [
    "Approval", "Expert", "ExpertEvent", "ExpertTurn", "Handoff", "PendingCall", "Retrieved", "StepTimed",
    "ToolCall", "ToolResult",
]
