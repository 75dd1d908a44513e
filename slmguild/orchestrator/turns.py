"""Turns on the guild's graph, in sessions: where they are kept, one at a time per session.

A turn runs the compiled graph (`graph.py`) on a worker thread while the caller's thread
streams its events. With a session, the turn continues that session's saved conversation
(`sessions.store`); without one it runs on an in-memory checkpointer, kept only while it
waits for approval. A session takes one turn at a time, in this process (a lock per
session) and across processes on PostgreSQL (an advisory lock).
"""

from __future__ import annotations

import contextvars
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from queue import SimpleQueue
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from slmguild.concurrency import KeyedLocks
from slmguild.config import GuildConfig
from slmguild.errors import NoPendingCall, SlmguildError
from slmguild.orchestrator.events import Done, Event, Reply, Token
from slmguild.orchestrator.graph import CHECKPOINT_SERDE, EVENTS, TurnWork, approval_request, build_graph
from slmguild.orchestrator.policy import RoutingPolicy
from slmguild.orchestrator.roster import ESCALATION, Roster
from slmguild.orchestrator.sessions import is_postgres, open_checkpointer, postgres_turn_lock, session_ids
from slmguild.orchestrator.telemetry import TurnSpans, turn_spans
from slmguild.orchestrator.trace import TurnTrace

MAX_HELD_TURNS = 1000  # turns without a session waiting for approval, kept in memory
# Turns run here while the caller's thread streams their events; threads are reused.
_TURNS = ThreadPoolExecutor(thread_name_prefix="slmguild-turn")


class TurnRunner:
    """Runs a guild's turns on its graph and keeps its sessions (`checkpointer`, opened on
    first use unless given)."""

    def __init__(
        self, config: GuildConfig, roster: Roster, routing: RoutingPolicy,
        checkpointer: BaseCheckpointSaver | None = None,
    ) -> None:
        self.config = config
        self.roster = roster
        self.routing = routing
        if checkpointer is not None:
            self.__dict__["checkpointer"] = checkpointer
        self.answered_by: Counter[str] = Counter()  # "local" / "escalated": turns of this process
        self._session_locks = KeyedLocks()  # a session takes one turn at a time (see `run`)
        self._held: dict[str, None] = {}  # turns without a session that wait for approval, oldest first

    @cached_property
    def checkpointer(self) -> BaseCheckpointSaver:
        """Where sessions are kept (`sessions.store`), opened on first use."""
        return open_checkpointer(self.config.sessions, CHECKPOINT_SERDE)

    @cached_property
    def telemetry(self) -> TurnSpans | None:
        """Exports each turn as OpenTelemetry spans; None while telemetry is off
        (`telemetry:`, `SLMGUILD_TELEMETRY`; read on the first turn)."""
        return turn_spans(self.roster)

    @cached_property
    def persistent_graph(self) -> Any:
        """The graph whose turns are saved in `checkpointer`."""
        return build_graph(self.roster, self.routing, self.checkpointer)

    @cached_property
    def _ephemeral_graph(self) -> Any:
        # In memory: a turn without a session is kept only while it waits for approval.
        return build_graph(self.roster, self.routing, InMemorySaver(serde=CHECKPOINT_SERDE))

    def sessions(self, *, user: str | None = None) -> list[str]:
        """The saved sessions, most recently active first: `user`'s names, or with no
        `user` every session's id (a user's as `user/name`)."""
        threads = session_ids(self.checkpointer)
        if user is None:
            return threads
        prefix = session_thread("", user)
        return [thread.removeprefix(prefix) for thread in threads if thread.startswith(prefix)]

    def session(self, name: str, *, user: str | None = None) -> dict[str, Any]:
        """A session's saved state: `messages`, `expert`, `traces` (each finished turn's
        `TurnTrace`); empty if there is none. `user`: whose session `name` is."""
        config = {"configurable": {"thread_id": session_thread(name, user)}}
        values = dict(self.persistent_graph.get_state(config).values)
        return {"messages": values.get("messages", []), "expert": values.get("expert"),
                "traces": [TurnTrace.model_validate(trace) for trace in values.get("traces", [])]}

    def delete_session(self, name: str, *, user: str | None = None) -> None:
        """Delete a saved session (`user`: whose it is)."""
        self.checkpointer.delete_thread(session_thread(name, user))

    def run(self, inputs: dict[str, Any] | Command[Any], session: str | None, user: str | None) -> Iterator[Event]:
        """Run (or resume) a turn on the graph, streaming its events; end with `Done`.

        A turn without a session runs on an in-memory checkpointer, under a thread of
        its own that is dropped when the turn ends — or held, if it stops for approval,
        until it is resumed (then its generated name is the session that resumes it).
        """
        telemetry = self.telemetry  # settled before the turn runs: a missing `otel` extra fails it early
        name = session or f"turn-{uuid.uuid4().hex}"
        thread = session_thread(name, user)
        config = {"configurable": {"thread_id": thread}}
        events: SimpleQueue[Any] = SimpleQueue()
        finished = object()

        def run_graph() -> dict[str, Any]:
            EVENTS.set(events.put)  # this worker's context: the nodes emit into `events`
            try:
                # Which graph holds the thread, whether a call waits, and the held set are
                # all read and written under the session's lock: of two answers to one
                # call, or an answer racing a new message, one finds the other's outcome.
                with self._session_locks.hold(thread):
                    ephemeral = session is None or thread in self._held
                    graph = self._ephemeral_graph if ephemeral else self.persistent_graph
                    with self._store_lock(thread, persistent=not ephemeral):
                        if isinstance(inputs, Command) and not graph.get_state(config).interrupts:
                            raise NoPendingCall(f"the session '{name}' has no call waiting for approval")
                        try:
                            # Saved once a turn, when it ends or stops: a turn cut short is all that is lost.
                            state: dict[str, Any] = graph.invoke(inputs, config, durability="exit")
                        except BaseException:
                            if ephemeral and thread not in self._held:
                                graph.checkpointer.delete_thread(thread)  # nothing waits on it: free its memory
                            raise
                        if ephemeral:
                            self._hold(thread, waits="__interrupt__" in state)
                        return state
            finally:
                events.put(finished)

        outcome = _TURNS.submit(contextvars.copy_context().run, run_graph)
        while (event := events.get()) is not finished:
            yield event
        state = outcome.result()  # re-raises what the graph raised
        if "__interrupt__" in state:
            yield from self._paused(state["work"], name)
            return
        reply: dict[str, Any] = state["reply"]
        self.answered_by["escalated" if reply["expert"] == ESCALATION else "local"] += 1
        done = Done(Reply(**{**reply, "trace": TurnTrace.model_validate(reply["trace"])}, session=session))
        if telemetry is not None:
            telemetry.export(done.reply, resumed=isinstance(inputs, Command))
        yield done

    def _hold(self, thread: str, *, waits: bool) -> None:
        """Keep an in-memory turn that waits for approval (the oldest beyond
        `MAX_HELD_TURNS` is dropped, its call unrun); drop one that is over."""
        self._held.pop(thread, None)
        if not waits:
            self._ephemeral_graph.checkpointer.delete_thread(thread)
            return
        self._held[thread] = None
        while len(self._held) > MAX_HELD_TURNS:
            oldest = next(iter(self._held))
            del self._held[oldest]
            self._ephemeral_graph.checkpointer.delete_thread(oldest)

    def _store_lock(self, thread: str, *, persistent: bool) -> AbstractContextManager[None]:
        """Across processes: a saved session's PostgreSQL advisory lock (in this process,
        `_session_locks` serves; SQLite stores belong to one process at a time)."""
        store = self.config.sessions.store
        return postgres_turn_lock(store, thread) if persistent and is_postgres(store) else nullcontext()

    def _paused(self, work: TurnWork, session: str) -> Iterator[Event]:
        """The events of a turn that stopped for approval: the question to the user, and
        a `Reply` that carries the pending call."""
        assert work.turn is not None and work.turn.pending is not None
        reply = work.reply(self.roster.expert(work.expert))
        reply["text"] = approval_request(work.turn.pending)
        yield Token(reply["text"], expert=work.expert)
        done = Done(Reply(**reply, session=session, pending=work.turn.pending))
        if self.telemetry is not None:
            self.telemetry.export(done.reply)
        yield done


def session_thread(name: str, user: str | None) -> str:
    """The store's id (LangGraph thread) of `user`'s session `name`: users' names never
    collide, and a session of no user keeps its name."""
    if user is None:
        return name
    if not user or "/" in user:
        raise SlmguildError(f"a user name is not empty and has no '/': {user!r}")
    return f"{user}/{name}"
