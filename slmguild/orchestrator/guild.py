"""The Guild: the library's front door (`load_guild`, `run`, `arun`, `stream`, `astream`).

A turn runs the orchestrator graph (`graph.py`): routed to the expert that owns it (or
split across several, or escalated), answered, and — with `session=` — saved, so that
the next turn of that session continues the conversation.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from slmguild.agents import Approval, Expert
from slmguild.agents.grounded import GroundedAnswerer
from slmguild.concurrency import KeyedLocks, relay
from slmguild.config import (
    ExpertConfig,
    FallbackConfig,
    GuildConfig,
    ModelSpec,
    load_config,
)
from slmguild.errors import ConfigError, NoPendingCall, SlmguildError, UnknownExpert
from slmguild.knowledge import Hit, KnowledgeBase, Retriever
from slmguild.orchestrator.events import Done, Event, Reply, Token
from slmguild.orchestrator.follow_ups import InContext, in_context
from slmguild.orchestrator.graph import (
    CHECKPOINT_SERDE,
    ESCALATION,
    EVENTS,
    FALLBACK,
    Request,
    TurnWork,
    approval_request,
    build_graph,
)
from slmguild.orchestrator.planner import LLMPlanner, Plan, split_by_clauses
from slmguild.orchestrator.routers import (
    CascadeRouter,
    DocumentRouter,
    EmbeddingRouter,
    LLMRouter,
    RouteDecision,
    Router,
    ScoringRouter,
)
from slmguild.orchestrator.sessions import (
    is_postgres,
    open_checkpointer,
    postgres_turn_lock,
    session_ids,
)
from slmguild.orchestrator.telemetry import TurnSpans, turn_spans
from slmguild.orchestrator.trace import TurnTrace
from slmguild.orchestrator.trained_router import (
    RouterModel,
    TrainedRouter,
    fingerprint,
    general_requests,
    tuned_embedder,
    with_description_topics,
)
from slmguild.serving import chat_model
from slmguild.tools import Demonstrations, ToolExecutor, ToolRegistry
from slmguild.tools.definition import examples_of
from slmguild.tools.handoff import HANDOFF, handoff_tool
from slmguild.tools.mcp import McpServers
from slmguild.tools.side_effects import changes_something

MAX_HELD_TURNS = 1000  # turns without a session waiting for approval, kept in memory
MAX_MESSAGE_CHARS = 6000  # ~1.5k tokens: longer messages are cut (with a notice), never fatal
# Turns run here while the caller's thread streams their events; threads are reused.
_TURNS = ThreadPoolExecutor(thread_name_prefix="slmguild-turn")

log = logging.getLogger("slmguild.orchestrator")


ModelFactory = Callable[[str, ModelSpec], BaseChatModel]
"""Builds the chat model of a role: an expert's name, `fallback`, `escalation`, `router`
(the cascade's tie-breaker or the LLM router) or `planner`; given the role's model spec."""


class Guild:
    """A guild of experts built from a `GuildConfig`.

    Building it is cheap: models, the router's embeddings and the session store load
    on the first request that needs them. One guild serves many sessions at once.
    `models` replaces how each role's chat model is made (tests script them; see
    `slmguild.testing`); by default it is the model its spec names, on its backend.
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
        self.experts: dict[str, Expert] = {
            name: self._build_expert(name, expert) for name, expert in config.experts.items()
        }
        self.fallback = self._build_expert(FALLBACK, config.fallback)
        self.escalation: Expert | None = None
        if config.escalation is not None:
            spec = config.model_for(ESCALATION)
            self.escalation = Expert(
                name=ESCALATION,
                description="The larger model for what no small model should answer.",
                system_prompt=config.fallback.system_prompt,
                model=self.models(ESCALATION, spec),
                spec=spec,
            )
        if checkpointer is not None:
            self.__dict__["checkpointer"] = checkpointer
        self.answered_by: Counter[str] = Counter()  # "local" / "escalated": turns of this process
        self._session_locks = KeyedLocks()  # a session takes one turn at a time (see _turn)
        self._held: dict[str, None] = {}  # turns without a session that wait for approval, oldest first

    def _build_expert(self, name: str, expert: ExpertConfig | FallbackConfig) -> Expert:
        spec = self.config.model_for(name)
        others = [other for other in self.config.experts if other != name]
        tools = [
            handoff_tool(others) if ref == HANDOFF else self.tools.resolve(ref)
            for ref in getattr(expert, "tools", [])
        ]
        tool_settings: dict[str, Any] = {}
        if isinstance(expert, ExpertConfig) and tools:
            # Small models on the embedded engine rarely emit native calls; a schema they can meet.
            auto = "constrained" if spec.backend == "embedded" else "native"
            tool_settings = {
                "executor": ToolExecutor(
                    {item.name: item for item in tools},
                    allowed=[item.name for item in tools],
                    timeout_s=expert.tool_timeout_s,
                    known=[*self.tools.names, HANDOFF],
                ),
                "tool_calling": auto if expert.tool_calling == "auto" else expert.tool_calling,
                "approval": self._needs_approval(name, expert, tools),
                "tool_choice": expert.tool_choice,
                "max_steps": expert.max_steps,
                "max_retries": expert.max_retries,
                # The routing exemplars are the requests this expert answers without a tool.
                "demonstrations": Demonstrations(
                    tools,
                    [text for group in expert.exemplar_groups().values() for text in group],
                    embedder=lambda: self.knowledge.embedder,
                    shown=expert.demonstrations,
                ),
            }
        knowledge = self.knowledge.retriever(name)
        grounded = None
        answer = self.config.answer_for(name)
        if answer.strategy != "generative":
            grounded = GroundedAnswerer(
                name, answer, (lambda: self.knowledge.embedder) if knowledge is not None else None
            )
            if knowledge is not None:  # the passages are chosen from more chunks than a prompt holds
                knowledge = Retriever(self.knowledge, name, max(knowledge.top_k, answer.chunks))
        return Expert(
            name=name,
            description=expert.description,
            system_prompt=expert.system_prompt,
            model=self.models(name, spec),
            spec=spec,
            tools=tools,
            knowledge=knowledge,
            grounded=grounded,
            **tool_settings,
        )

    @staticmethod
    def _needs_approval(name: str, expert: ExpertConfig, tools: Sequence[BaseTool]) -> frozenset[str]:
        """The expert's tools whose calls wait for the user's approval: those that change
        something, but for the ones `auto_approve` lets run."""
        changing = {item.name for item in tools if changes_something(item)}
        if expert.auto_approve is True:
            return frozenset()
        if expert.auto_approve is False:
            return frozenset(changing)
        if unknown := set(expert.auto_approve) - {item.name for item in tools}:
            raise ConfigError(f"experts.{name}.auto_approve names tools the expert does not have: "
                              f"{', '.join(sorted(unknown))}")
        return frozenset(changing - set(expert.auto_approve))

    @property
    def name(self) -> str:
        return self.config.name

    def expert(self, name: str) -> Expert:
        """The expert called `name` (`fallback` and `escalation` included)."""
        if name == FALLBACK:
            return self.fallback
        if name == ESCALATION:
            if self.escalation is None:
                raise SlmguildError(
                    "this guild has no escalation model: add `escalation:` to the guild file"
                )
            return self.escalation
        try:
            return self.experts[name]
        except KeyError:
            known = ", ".join([*self.experts, FALLBACK])
            raise UnknownExpert(f"the guild '{self.name}' has no expert '{name}' (it has: {known})") from None

    # -- routing ----------------------------------------------------------------------

    @cached_property
    def embedding_router(self) -> EmbeddingRouter:
        routing = self.config.routing
        return EmbeddingRouter(
            self.knowledge.embedder,
            self.routing_exemplars(),
            thresholds=routing.thresholds,
            default_threshold=routing.default_threshold,
        )

    def routing_exemplars(self) -> dict[str, dict[str, list[str]]]:
        """Each expert's routing exemplars, grouped by sub-topic."""
        return {name: expert.exemplar_groups() for name, expert in self.config.experts.items()}

    def training_exemplars(self) -> dict[str, dict[str, list[str]]]:
        """What the trained router learns each expert owns: its routing exemplars, the
        requests of its tools' examples as one sub-topic per tool (`tool:NAME`), and the
        topic phrases of its description (`topic:PHRASE`)."""
        exemplars = self.routing_exemplars()
        for name, expert in self.experts.items():
            for item in expert.tools:
                if requests := [request for request, _ in examples_of(item)]:
                    exemplars[name][f"tool:{item.name}"] = requests
        return with_description_topics(
            exemplars, {name: expert.description for name, expert in self.config.experts.items()})

    def out_of_scope_examples(self) -> list[str]:
        """What the trained router learns that nobody owns: the shipped general requests
        and the guild's own `routing.out_of_scope`."""
        return [*general_requests(), *self.config.routing.out_of_scope]

    def routing_documents(self) -> dict[str, dict[str, list[str]]]:
        """Each expert's ingested documents: their chunks' texts, by source file."""
        return {
            name: self.knowledge.store.chunk_texts(name)
            for name in self.experts
            if self.knowledge.retriever(name) is not None and self.knowledge.store.exists(name)
        }

    @cached_property
    def scorer(self) -> ScoringRouter:
        """What scores a request against each expert: the trained router (`routing.model`)
        when it was trained on the guild's present exemplars, else the exemplar centroids."""
        path = self.config.routing.model
        if path is None:
            return self.embedding_router
        model = RouterModel.load(path)
        current = fingerprint(self.training_exemplars(), self.out_of_scope_examples(),
                              self.knowledge.embedder_name)
        if model.fingerprint != current:
            log.warning("%s was trained on other exemplars or another embedder: routing by the exemplar "
                        "centroids until `slmguild router train` is run again", path)
            return self.embedding_router
        return TrainedRouter(tuned_embedder(path) if model.tuned_encoder else self.knowledge.embedder, model)

    @cached_property
    def router(self) -> Router:
        """The router the guild file asks for (`routing.router`, cascade by default)."""
        routing = self.config.routing
        descriptions = {name: expert.description for name, expert in self.config.experts.items()}
        llm = LLMRouter(self.models("router", self.config.defaults), descriptions)
        router: Router
        if routing.router == "llm":
            router = llm
        elif routing.router == "embedding":
            router = self.scorer
        else:
            router = CascadeRouter(
                self.scorer,
                llm if routing.tie_breaker else None,
                close_call=routing.close_call,
                switch_margin=routing.switch_margin,
            )
        if routing.document_match is None:
            return router
        return DocumentRouter(router, self.document_similarities, routing.document_match)

    def in_context(self, message: str, previous: str | None) -> InContext:
        """`message` as routing and search read it after the conversation's last question
        in context, `previous` (as asked, when `routing.follow_ups` is off)."""
        return in_context(message, previous if self.config.routing.follow_ups else None)

    def decide(self, request: Request, current: str | None = None, context: InContext | None = None) -> dict[str, Any]:
        """Who answers `request`: a dict with `expert` (or a multi-expert `plan`), `reason`,
        `scores`, and the `query` it was routed on for a follow-up (`context`)."""
        follow_up = context if context is not None and context.follows else None
        found: dict[str, Any] = {"query": follow_up.query} if follow_up is not None else {}
        forced = request.get("expert")
        if forced:  # `_request` checked the name before the graph ran
            return {"expert": forced, "reason": "forced by the caller", "scores": {}, **found}
        if request.get("escalate"):
            self.expert(ESCALATION)
            return {"expert": ESCALATION, "reason": "asked for by the user", "scores": {}, **found}
        message = request["message"]
        # A follow-up is one question about the turn before, whatever its clauses.
        if self.config.routing.multi_expert and len(self.experts) > 1 and follow_up is None:
            plan = self._plan(message)
            if plan is not None:
                return {"expert": None, "plan": plan.model_dump(), "scores": {},
                        "reason": f"spans {', '.join(plan.experts)}"}
        if follow_up is not None:
            decision = self._route_follow_up(follow_up, current)
        else:
            decision = self.router.route(message, current)
        if decision.expert is not None:
            return {"expert": decision.expert, "reason": decision.reason, "scores": decision.scores, **found}
        target = ESCALATION if self.escalation is not None else FALLBACK
        return {"expert": target, "reason": f"no expert owns it: {decision.reason}", "scores": decision.scores, **found}

    def _route_follow_up(self, context: InContext, current: str | None) -> RouteDecision:
        """A follow-up's expert, judged on its own words and on the question in context
        alike (their scores averaged): its own words alone send "is there money for that?"
        to finance whatever "that" was, the context alone keeps every follow-up where it
        was. Words that no expert owns on their own ("and for contractors?") are left to
        the context. It stays with `current` unless another expert wins by `switch_margin`."""
        own, whole = self.router.route(context.question), self.router.route(context.query, current)
        if own.expert is None or not own.scores or not whole.scores:  # the context decides
            return whole
        scores = {name: (own.scores.get(name, 0.0) + whole.scores.get(name, 0.0)) / 2
                  for name in own.scores.keys() | whole.scores.keys()}
        best = max(scores, key=scores.__getitem__)
        if current in scores and scores[best] - scores[current] < self.config.routing.switch_margin:
            return RouteDecision(current, f"follow-up: stays with {current}", scores)
        return RouteDecision(best, f"follow-up, in context: {best} ({scores[best]:.2f})", scores)

    def document_similarities(self, message: str) -> dict[str, float]:
        """Each expert with ingested knowledge: the cosine of its chunk most similar to `message`
        (one dense search per expert)."""
        found = {}
        for name in self.experts:
            if self.knowledge.retriever(name) is None or not self.knowledge.store.exists(name):
                continue
            hits = self.knowledge.search(name, message, top_k=1, mode="dense", rerank=False)
            if hits and hits[0].similarity is not None:
                found[name] = hits[0].similarity
        return found

    @cached_property
    def llm_planner(self) -> LLMPlanner:
        """The model that splits multi-expert requests when `routing.planner` is `llm`."""
        descriptions = {name: expert.description for name, expert in self.config.experts.items()}
        return LLMPlanner(self.models("planner", self.config.defaults), descriptions)

    def _plan(self, message: str) -> Plan | None:
        if self.config.routing.planner == "llm":
            return self.llm_planner.plan(message)
        return split_by_clauses(message, self.scorer)

    def should_escalate(self, hits: Sequence[Hit]) -> bool:
        """An expert whose documents say nothing relevant hands the turn to the escalation model."""
        if self.escalation is None:
            return False
        best = max((hit.similarity for hit in hits if hit.similarity is not None), default=None)
        return not hits or (best is not None and best < self.config.routing.min_relevance)

    # -- sessions -----------------------------------------------------------------------

    @cached_property
    def checkpointer(self) -> BaseCheckpointSaver:
        """Where sessions are kept (`sessions.store`), opened on first use."""
        return open_checkpointer(self.config.sessions, CHECKPOINT_SERDE)

    @cached_property
    def telemetry(self) -> TurnSpans | None:
        """Exports each turn as OpenTelemetry spans; None while telemetry is off
        (`telemetry:`, `SLMGUILD_TELEMETRY`; read on the first turn)."""
        return turn_spans(self)

    @cached_property
    def _persistent_graph(self) -> Any:
        return build_graph(self, self.checkpointer)

    @cached_property
    def _ephemeral_graph(self) -> Any:
        # In memory: a turn without a session is kept only while it waits for approval.
        return build_graph(self, InMemorySaver(serde=CHECKPOINT_SERDE))

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
        values = dict(self._persistent_graph.get_state(config).values)
        return {"messages": values.get("messages", []), "expert": values.get("expert"),
                "traces": [TurnTrace.model_validate(trace) for trace in values.get("traces", [])]}

    def delete_session(self, name: str, *, user: str | None = None) -> None:
        """Delete a saved session (`user`: whose it is)."""
        self.checkpointer.delete_thread(session_thread(name, user))

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
        for event in self._turn(inputs, session, user):
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
        yield from self._turn(Command(resume=asdict(approval)), session, user)

    def resume(self, session: str, approve: bool | dict[str, Any], *, user: str | None = None) -> Reply:
        """`resume_stream`, returning the finished `Reply`."""
        return _last_reply(self.resume_stream(session, approve, user=user))

    async def aresume_stream(
        self, session: str, approve: bool | dict[str, Any], *, user: str | None = None
    ) -> AsyncIterator[Event]:
        """`resume_stream` for asyncio callers (the turn runs in a worker thread)."""
        async for event in relay(lambda: self.resume_stream(session, approve, user=user)):
            yield event

    async def aresume(self, session: str, approve: bool | dict[str, Any], *, user: str | None = None) -> Reply:
        """`resume` for asyncio callers."""
        return await last_reply(self.aresume_stream(session, approve, user=user))

    def _turn(self, inputs: dict[str, Any] | Command[Any], session: str | None, user: str | None) -> Iterator[Event]:
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

        def run_graph() -> tuple[Any, dict[str, Any]]:
            EVENTS.set(events.put)  # this worker's context: the nodes emit into `events`
            try:
                # Which graph holds the thread, whether a call waits, and the held set are
                # all read and written under the session's lock: of two answers to one
                # call, or an answer racing a new message, one finds the other's outcome.
                with self._session_locks.hold(thread):
                    ephemeral = session is None or thread in self._held
                    graph = self._ephemeral_graph if ephemeral else self._persistent_graph
                    with self._store_lock(thread, persistent=not ephemeral):
                        if isinstance(inputs, Command) and not graph.get_state(config).interrupts:
                            raise NoPendingCall(f"the session '{name}' has no call waiting for approval")
                        try:
                            # Saved once a turn, when it ends or stops: a turn cut short is all that is lost.
                            state = graph.invoke(inputs, config, durability="exit")
                        except BaseException:
                            if ephemeral and thread not in self._held:
                                graph.checkpointer.delete_thread(thread)  # nothing waits on it: free its memory
                            raise
                        if ephemeral:
                            self._hold(thread, waits="__interrupt__" in state)
                        return graph, state
            finally:
                events.put(finished)

        outcome = _TURNS.submit(contextvars.copy_context().run, run_graph)
        while (event := events.get()) is not finished:
            yield event
        _graph, state = outcome.result()  # re-raises what the graph raised
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
        reply = work.reply(self.expert(work.expert))
        reply["text"] = approval_request(work.turn.pending)
        yield Token(reply["text"], expert=work.expert)
        done = Done(Reply(**reply, session=session, pending=work.turn.pending))
        if self.telemetry is not None:
            self.telemetry.export(done.reply)
        yield done

    async def astream(self, message: str, **options: Any) -> AsyncIterator[Event]:
        """`stream` for asyncio callers: the turn runs in a worker thread, its events
        come through a queue, so the event loop stays free for other sessions."""
        async for event in relay(lambda: self.stream(message, **options)):
            yield event

    async def arun(self, message: str, **options: Any) -> Reply:
        """One turn, returning the finished `Reply` (options as for `stream`)."""
        return await last_reply(self.astream(message, **options))

    def run(self, message: str, **options: Any) -> Reply:
        """`arun` for synchronous callers (options as for `stream`)."""
        return _last_reply(self.stream(message, **options))

    def local_share(self) -> float | None:
        """The share of this process's turns that a small model answered (None before any)."""
        total = sum(self.answered_by.values())
        return self.answered_by["local"] / total if total else None

    def _request(self, message: str, expert: str | None, escalate: bool) -> Request:
        if not message.strip():
            raise SlmguildError("the message is empty: ask a question")
        if expert is not None:
            self.expert(expert)
        return {"message": message[:MAX_MESSAGE_CHARS], "expert": expert, "escalate": escalate}


def session_thread(name: str, user: str | None) -> str:
    """The store's id (LangGraph thread) of `user`'s session `name`: users' names never
    collide, and a session of no user keeps its name."""
    if user is None:
        return name
    if not user or "/" in user:
        raise SlmguildError(f"a user name is not empty and has no '/': {user!r}")
    return f"{user}/{name}"


def _last_reply(events: Iterator[Event]) -> Reply:
    """The `Reply` that ends a turn's events."""
    for event in events:
        if isinstance(event, Done):
            return event.reply
    raise AssertionError("a turn always ends with Done")


async def last_reply(events: AsyncIterator[Event]) -> Reply:
    """The `Reply` that ends a turn's events, for asyncio callers."""
    async for event in events:
        if isinstance(event, Done):
            return event.reply
    raise AssertionError("a turn always ends with Done")


def load_guild(path: str | Path, **options: Any) -> Guild:
    """Read, validate and build the guild described by the YAML file at `path`
    (`options` as for `Guild`: `knowledge`, `checkpointer`, `models`)."""
    return Guild(load_config(path), **options)
