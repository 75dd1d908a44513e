"""The Guild: the library's front door (`load_guild`, `run`, `arun`, `stream`, `astream`).

A turn runs the orchestrator graph (`graph.py`): routed to the expert that owns it (or
split across several, or escalated), answered, and — with `session=` — saved, so that
the next turn of that session continues the conversation. The guild is built from
parts with one job each: its experts (`roster.Roster`), who answers what
(`policy.RoutingPolicy`) and the turns and sessions on its graph (`turns.TurnRunner`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from slmguild.agents import Approval, Expert
from slmguild.concurrency import relay
from slmguild.config import GuildConfig, load_config
from slmguild.errors import SlmguildError
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator.events import Done, Event, Reply, areply_of, reply_of
from slmguild.orchestrator.graph import build_graph
from slmguild.orchestrator.policy import Request, RoutingPolicy
from slmguild.orchestrator.roster import ModelFactory, Roster
from slmguild.orchestrator.runnable import Ask, as_runnable
from slmguild.orchestrator.turns import TurnRunner
from slmguild.serving import chat_model
from slmguild.tools import ToolRegistry
from slmguild.tools.mcp import McpServers

MAX_MESSAGE_CHARS = 6000  # ~1.5k tokens: longer messages are cut (with a notice), never fatal


class Guild:
    """A guild of experts built from a `GuildConfig`.

    Building it is cheap: models, the router's embeddings and the session store load
    on the first request that needs them. One guild serves many sessions at once.
    `models` replaces how each role's chat model is made (tests script them; see
    `slmguild.testing`); by default it is the model its spec names, on its backend.
    `checkpointer` keeps the sessions instead of the store the guild file names.
    """

    def __init__(
        self,
        config: GuildConfig,
        *,
        knowledge: KnowledgeBase | None = None,
        checkpointer: BaseCheckpointSaver | None = None,
        models: ModelFactory | None = None,
    ) -> None:
        self.config = config
        self.models: ModelFactory = models or (lambda _role, spec: chat_model(spec, config.engine))
        self.knowledge = knowledge or KnowledgeBase(config)
        self.tools = ToolRegistry.from_toolboxes(config.toolboxes)
        # MCP servers are reached now, not on first use: experts are built with their tools' schemas.
        self.mcp = McpServers(config.mcp_servers)
        self.mcp.register(self.tools)
        self.roster = Roster(config, self.models, self.knowledge, self.tools)
        self.routing = RoutingPolicy(config, self.roster, self.knowledge, self.models)
        self.turns = TurnRunner(config, self.roster, self.routing, checkpointer)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def experts(self) -> dict[str, Expert]:
        """The guild's experts by name (not the fallback nor the escalation model)."""
        return self.roster.experts

    def expert(self, name: str) -> Expert:
        """The expert called `name` (`fallback` and `escalation` included)."""
        return self.roster.expert(name)

    def as_runnable(self, expert: str | None = None) -> Runnable[Ask, AIMessageChunk]:
        """The guild (with `expert`: that expert alone) as a LangChain Runnable — invoke,
        stream, batch and their async twins; see `slmguild.orchestrator.runnable`."""
        return as_runnable(self, expert)

    def graph(self, checkpointer: BaseCheckpointSaver | None = None) -> Any:
        """The guild's compiled LangGraph graph, to run as a subgraph of your own app or
        under LangGraph's server (`langgraph.json`); with `checkpointer`, it keeps sessions."""
        return build_graph(self.roster, self.routing, checkpointer)

    # -- sessions -----------------------------------------------------------------------

    def sessions(self, *, user: str | None = None) -> list[str]:
        """The saved sessions, most recently active first: `user`'s names, or with no
        `user` every session's id (a user's as `user/name`)."""
        return self.turns.sessions(user=user)

    def session(self, name: str, *, user: str | None = None) -> dict[str, Any]:
        """A session's saved state: `messages`, `expert`, `traces` (each finished turn's
        `TurnTrace`); empty if there is none. `user`: whose session `name` is."""
        return self.turns.session(name, user=user)

    def delete_session(self, name: str, *, user: str | None = None) -> None:
        """Delete a saved session (`user`: whose it is)."""
        self.turns.delete_session(name, user=user)

    # -- turns ---------------------------------------------------------------------------

    def stream(
        self,
        message: str,
        *,
        expert: str | None = None,
        session: str | None = None,
        escalate: bool = False,
        history: Sequence[BaseMessage] = (),
        user: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> Iterator[Event]:
        """One turn as events: `Routed` (or `Planned`/`Escalated`), `Retrieved`,
        `ToolCall`/`ToolResult`, `Token`s, then `Done` with the `Reply`.

        `session` names a saved conversation (created on first use) whose earlier turns
        are the history; without it the turn stands alone, after `history` if given.
        `user` owns the session: users' sessions of the same name are different ones.
        A session takes one turn at a time: a second turn for it waits for the first.
        A turn that stops for approval ends with a `Reply` whose `pending` is the call
        (answer it with `resume`); a new message instead abandons the call, unrun.
        `sampling`: options for the answer's generation (`Expert.sampling`), kept with
        the turn until it is answered.
        """
        request = self._request(message, expert, escalate)
        if sampling:
            request["sampling"] = sampling
        inputs: dict[str, Any] = {"request": request}
        if session is None:
            inputs["messages"] = list(history)
        for event in self.turns.run(inputs, session, user):
            if isinstance(event, Done) and request["message"] != message:
                event.reply.trace.notice = f"the message was cut to {MAX_MESSAGE_CHARS} characters"
            yield event

    def resume_stream(
        self, session: str, approve: bool | dict[str, Any], *, user: str | None = None
    ) -> Iterator[Event]:
        """Answer the call that `session`'s last turn stopped at, and stream the rest of the turn.

        `approve`: True runs the call as the expert made it; a dict runs it with these
        arguments instead (validated like the model's); False refuses it, and the
        answer says what was not done. `user` owns the session, and the trace records
        them as the one who answered, with the time. The call runs at most once: of two
        answers at the same time, the second finds nothing waiting. Raises
        `NoPendingCall` when nothing waits.
        """
        approval = Approval(approved=bool(approve), arguments=approve if isinstance(approve, dict) else None,
                            by=user, at=datetime.now(UTC).isoformat(timespec="seconds"))
        yield from self.turns.run(Command(resume=asdict(approval)), session, user)

    def resume(self, session: str, approve: bool | dict[str, Any], *, user: str | None = None) -> Reply:
        """`resume_stream`, returning the finished `Reply`."""
        return reply_of(self.resume_stream(session, approve, user=user))

    async def aresume_stream(
        self, session: str, approve: bool | dict[str, Any], *, user: str | None = None
    ) -> AsyncIterator[Event]:
        """`resume_stream` for asyncio callers (the turn runs in a worker thread)."""
        async for event in relay(lambda: self.resume_stream(session, approve, user=user)):
            yield event

    async def aresume(self, session: str, approve: bool | dict[str, Any], *, user: str | None = None) -> Reply:
        """`resume` for asyncio callers."""
        return await areply_of(self.aresume_stream(session, approve, user=user))

    async def astream(self, message: str, **options: Any) -> AsyncIterator[Event]:
        """`stream` for asyncio callers: the turn runs in a worker thread, its events
        come through a queue, so the event loop stays free for other sessions."""
        async for event in relay(lambda: self.stream(message, **options)):
            yield event

    async def arun(self, message: str, **options: Any) -> Reply:
        """One turn, returning the finished `Reply` (options as for `stream`)."""
        return await areply_of(self.astream(message, **options))

    def run(self, message: str, **options: Any) -> Reply:
        """`arun` for synchronous callers (options as for `stream`)."""
        return reply_of(self.stream(message, **options))

    def local_share(self) -> float | None:
        """The share of this process's turns that a small model answered (None before any)."""
        total = sum(self.turns.answered_by.values())
        return self.turns.answered_by["local"] / total if total else None

    def _request(self, message: str, expert: str | None, escalate: bool) -> Request:
        if not message.strip():
            raise SlmguildError("the message is empty: ask a question")
        if expert is not None:
            self.expert(expert)
        return {"message": message[:MAX_MESSAGE_CHARS], "expert": expert, "escalate": escalate}


def load_guild(path: str | Path, **options: Any) -> Guild:
    """Read, validate and build the guild described by the YAML file at `path`
    (`options` as for `Guild`: `knowledge`, `checkpointer`, `models`)."""
    return Guild(load_config(path), **options)
