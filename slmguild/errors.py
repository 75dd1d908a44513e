"""The exceptions slmguild raises for user mistakes and unavailable parts.

Every message says what went wrong, where (file:line, field, URL) and how to fix it,
so that the CLI can print it as is, in one or two lines, without a traceback.
Model misbehaviour (invalid JSON, a bad tool call) is not an exception: it is retried
and recorded in the turn's trace.
"""

from __future__ import annotations


class SlmguildError(Exception):
    """Base class of every error slmguild raises on purpose."""


class ConfigError(SlmguildError):
    """A guild file that cannot be read or does not validate."""


class ModelUnavailable(SlmguildError):
    """A model that is not installed, or an engine that cannot load it."""


class BackendUnavailable(SlmguildError):
    """A model server (Ollama, an OpenAI-compatible server) that cannot be reached."""


class McpServerUnavailable(SlmguildError):
    """An MCP server (`mcp_servers` in the guild file) that cannot be started or reached."""


class KnowledgeError(SlmguildError):
    """A knowledge store that cannot be used as configured (locked, built by another
    embedder, not ingested yet)."""


class UnknownExpert(SlmguildError):
    """A request for an expert the guild does not have."""


class NoPendingCall(SlmguildError):
    """An approval for a session whose turn waits on no call (never stopped, already
    answered, or abandoned by a newer message): the caller's mistake, not the server's."""


class ModelRequestsBlocked(SlmguildError):
    """A request to a real model while they are switched off (in tests, by default)."""


class MissingExtra(SlmguildError, ImportError):
    """An optional dependency that is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the '{module}' package: "
            f"pip install 'slmguild[{extra}]'"
        )


def require(module: str, extra: str):
    """Import an optional dependency, or raise `MissingExtra` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(module.split(".")[0], extra) from exc
