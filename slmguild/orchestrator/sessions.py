"""Sessions: LangGraph checkpointers, and what `slmguild sessions` lists, shows and deletes.

A session is a LangGraph thread: its state (the messages, the current expert, the
turns' traces) is checkpointed after every step of the graph, in an SQLite file in
the data directory by default, or in PostgreSQL (`sessions.store: postgresql://...`).
A turn that a crash interrupts loses only itself: every finished turn is on disk.
A session takes one turn at a time: in a process, and across the processes that share
a PostgreSQL store (an advisory lock per session).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import SerializerProtocol

from slmguild.config import SessionsConfig
from slmguild.errors import SlmguildError, require
from slmguild.paths import home


class SessionStoreError(SlmguildError):
    """A session store that cannot be opened or read (locked, corrupt, unreachable)."""


def open_checkpointer(config: SessionsConfig, serde: SerializerProtocol | None = None) -> BaseCheckpointSaver:
    """The checkpointer `config` names, set up and ready (tables created); `serde`
    (de)serializes the saved state (LangGraph's default when None)."""
    if is_postgres(config.store):
        return _postgres(config.store, serde)
    path = home() / "sessions.sqlite" if config.store == "sqlite" else Path(config.store)
    return _sqlite(path, config.lock_timeout_s, serde)


def _sqlite(path: Path, lock_timeout_s: float, serde: SerializerProtocol | None) -> BaseCheckpointSaver:
    from langgraph.checkpoint.sqlite import SqliteSaver

    class CheckedSqliteSaver(SqliteSaver):
        """SqliteSaver whose every statement runs in a transaction that is rolled back
        when it fails (the library's commits even then, which can keep half of a
        turn's writes), with the failure raised as a `SessionStoreError`."""

        @contextmanager
        def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
            with self.lock:
                try:
                    self.setup()
                    cursor = self.conn.cursor()
                    try:
                        yield cursor
                        if transaction:
                            self.conn.commit()
                    finally:
                        cursor.close()
                except BaseException as exc:
                    self.conn.rollback()
                    if isinstance(exc, sqlite3.DatabaseError):
                        raise SessionStoreError(_sqlite_problem(path, exc)) from None
                    raise

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # One connection for every thread of this process: SqliteSaver serializes access.
        connection = sqlite3.connect(path, check_same_thread=False, timeout=lock_timeout_s)
        # WAL without a sync per commit: a killed process loses nothing committed (only
        # a power cut could lose the last commits), and a turn costs ~20 ms less.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        saver = CheckedSqliteSaver(connection, serde=serde)
        saver.setup()
    except sqlite3.DatabaseError as exc:
        raise SessionStoreError(_sqlite_problem(path, exc)) from None
    return saver


def _sqlite_problem(path: Path, exc: sqlite3.DatabaseError) -> str:
    if "locked" in str(exc):
        return (
            f"the session store {path} is locked by another process for too long; nothing of this "
            "turn was saved. Try again, or give this process its own store (sessions.store)"
        )
    if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "I/O" in str(exc)):
        return (
            f"cannot write the session store {path} ({exc}): is the disk full? Nothing of this "
            "turn was saved; the earlier turns are intact"
        )
    return (
        f"the session store {path} cannot be read ({exc}): it is not an SQLite database "
        "or it is damaged. Move it aside to start afresh; your other files are untouched"
    )


def _postgres(url: str, serde: SerializerProtocol | None) -> BaseCheckpointSaver:
    postgres = require("langgraph.checkpoint.postgres", "postgres")
    psycopg = require("psycopg", "postgres")
    from psycopg.rows import dict_row

    try:
        # The settings PostgresSaver documents for a connection it does not own.
        connection = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        raise SessionStoreError(f"cannot reach the PostgreSQL session store at {_safe(url)}: {exc}") from None
    saver = postgres.PostgresSaver(connection, serde=serde)
    saver.setup()
    return saver


@contextmanager
def postgres_turn_lock(url: str, session: str) -> Iterator[None]:
    """Hold `session`'s advisory lock in the PostgreSQL store at `url` while the block runs:
    processes that share the store take one turn of a session at a time.

    The lock lives with a connection of its own, so a process that dies mid-turn
    releases it with its connection.
    """
    psycopg = require("psycopg", "postgres")
    try:
        connection = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise SessionStoreError(f"cannot reach the PostgreSQL session store at {_safe(url)}: {exc}") from None
    with connection:
        connection.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"slmguild-session:{session}",))
        yield


def is_postgres(store: str) -> bool:
    """Whether the `sessions.store` setting names a PostgreSQL database."""
    return store.startswith(("postgres://", "postgresql://"))


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
