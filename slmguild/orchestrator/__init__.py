"""The guild: routes each request to an expert and keeps the conversation."""

from slmguild.orchestrator.events import (
    Done,
    Escalated,
    Event,
    Handoff,
    PendingCall,
    Planned,
    Reply,
    Retrieved,
    Routed,
    Token,
    ToolCall,
    ToolResult,
)
from slmguild.orchestrator.guild import Guild, load_guild

__all__ = [
    "Done", "Escalated", "Event", "Guild", "Handoff", "PendingCall", "Planned", "Reply", "Retrieved", "Routed", "Token", "ToolCall", "ToolResult", "load_guild",
]
