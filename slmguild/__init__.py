"""slmguild: a guild of specialized small language models.

    guild = slmguild.load_guild("examples/acme/guild.yaml")
    reply = guild.run("How do I reset my VPN password?", expert="it")
    print(reply.text)
"""

from importlib.metadata import PackageNotFoundError, version

from slmguild.agents import Expert
from slmguild.config import GuildConfig, ModelSpec, load_config
from slmguild.errors import (
    BackendUnavailable,
    ConfigError,
    ModelUnavailable,
    NoPendingCall,
    SlmguildError,
    UnknownExpert,
)
from slmguild.orchestrator import (
    Done,
    Escalated,
    Event,
    Guild,
    Handoff,
    PendingCall,
    Planned,
    Reply,
    Retrieved,
    Routed,
    Token,
    ToolCall,
    ToolResult,
    load_guild,
)
from slmguild.tools import tool

try:
    __version__ = version("slmguild")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "BackendUnavailable",
    "ConfigError",
    "Done",
    "Escalated",
    "Event",
    "Expert",
    "Guild",
    "GuildConfig",
    "Handoff",
    "ModelSpec",
    "ModelUnavailable",
    "NoPendingCall",
    "PendingCall",
    "Planned",
    "Reply",
    "Retrieved",
    "Routed",
    "SlmguildError",
    "Token",
    "ToolCall",
    "ToolResult",
    "UnknownExpert",
    "__version__",
    "load_config",
    "load_guild",
    "tool",
]
