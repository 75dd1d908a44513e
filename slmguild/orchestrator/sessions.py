"""Sessions: LangGraph checkpointers, and what `slmguild sessions` lists, shows and deletes.

A session is a LangGraph thread: its state (the messages, the current expert, the
turns' traces) is checkpointed after every step of the graph, in an SQLite file in
the data directory by default, or in PostgreSQL (`sessions.store: postgresql://...`).
A turn that a crash interrupts loses only itself: every finished turn is on disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver

from slmguild.config import SessionsConfig
from slmguild.errors import SlmguildError, require
from slmguild.paths import home


class SessionStoreError(SlmguildError):
    """A session store that cannot be opened or read (locked, corrupt, unreachable)."""


def open_checkpointer(config: SessionsConfig) -> BaseCheckpointSaver:
    """The checkpointer `config` names, set up and ready (tables created)."""
    if config.store.startswith(("postgres://", "postgresql://")):
        return _postgres(config.store)
    path = home() / "sessions.sqlite" if config.store == "sqlite" else Path(config.store)
    return _sqlite(path)


def _sqlite(path: Path) -> BaseCheckpointSaver:
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # One connection for every thread of this process: SqliteSaver serializes access.
        connection = sqlite3.connect(path, check_same_thread=False, timeout=10)
        # WAL without a sync per commit: a killed process loses nothing committed (only
        # a power cut could lose the last commits), and a turn costs ~20 ms less.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(connection)
        saver.setup()
    except sqlite3.DatabaseError as exc:
        raise SessionStoreError(_sqlite_problem(path, exc)) from None
    return saver


def _sqlite_problem(path: Path, exc: sqlite3.DatabaseError) -> str:
    if "locked" in str(exc):
        return (
            f"the session store {path} is locked by another process for too long; "
            "try again, or give this process its own store (sessions.store)"
        )
    return (
        f"the session store {path} cannot be read ({exc}): it is not an SQLite database "
        "or it is damaged. Move it aside to start afresh; your other files are untouched"
    )


def _postgres(url: str) -> BaseCheckpointSaver:
    postgres = require("langgraph.checkpoint.postgres", "postgres")
    psycopg = require("psycopg", "postgres")
    from psycopg.rows import dict_row

    try:
        # The settings PostgresSaver documents for a connection it does not own.
        connection = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        raise SessionStoreError(f"cannot reach the PostgreSQL session store at {_safe(url)}: {exc}") from None
    saver = postgres.PostgresSaver(connection)
    saver.setup()
    return saver


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


def session_ids(checkpointer: BaseCheckpointSaver) -> list[str]:
    """Every session (thread) in the store, most recently active first."""
    seen: dict[str, None] = {}
    try:
        for item in checkpointer.list(None):
            seen.setdefault(item.config["configurable"]["thread_id"], None)
    except sqlite3.DatabaseError as exc:
        raise SessionStoreError(f"cannot list the sessions: {exc}") from None
    return list(seen)
