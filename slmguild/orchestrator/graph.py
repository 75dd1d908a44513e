"""The orchestrator graph: each step of a turn is a node.

    route ─┬─> retrieve ─┬─> tool_step ⟲ ─┬─> approve ─> answer ─> END
           │      ▲      │        │        └──────────────> answer
           │      └──────┼────────┘ handoff (another expert searches its own documents)
           ├─> escalate ─┴─> answer          (nothing relevant found: the larger model)
           └─> multi ─> END                  (several experts, one part each)

A LangGraph `StateGraph` whose state is the conversation — its messages, the expert it
is with (so that follow-ups stay), every finished turn's trace — and the turn under
way (`TurnWork`). Each node runs one step of one expert (`slmguild.agents.Expert`) and
says where the turn goes next (`Command(goto=...)`). With a checkpointer, the state is
saved per session (`thread_id`); `approve` stops the turn with LangGraph's `interrupt`
at a call that changes something, and `Command(resume=...)` continues it, in this
process or another. Nodes are synchronous and emit their events (`Routed`,
`Retrieved`, `Token`, ...) as they happen to the turn's event sink (`EVENTS`), which
`Guild.stream` drains while the graph runs; run anywhere else — as a subgraph of
another LangGraph graph, by LangGraph's own tooling — they go to LangGraph's "custom"
stream instead.

Why not LangGraph's own "custom" stream mode: it runs every node in a background
thread with a waiter per step, which measured ~8 ms a turn on a two-node graph
(`invoke`: 0.9 ms) — most of the framework's overhead budget.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from slmguild.agents import (
    Approval,
    Expert,
    ExpertEvent,
    ExpertTurn,
    Handoff,
    PendingCall,
    Retrieved,
    StepTimed,
    ToolCall,
    ToolResult,
)
from slmguild.agents.grounded import Grounding
from slmguild.concurrency import drive
from slmguild.knowledge.citations import describe_hit
from slmguild.orchestrator.events import Escalated, Planned, Routed, Token
from slmguild.orchestrator.planner import Plan
from slmguild.orchestrator.policy import Request, RoutingPolicy
from slmguild.orchestrator.roster import ESCALATION, FALLBACK, Roster
from slmguild.orchestrator.trace import (
    AnswerTrace,
    RouteTrace,
    SourceTrace,
    StepTrace,
    ToolCallTrace,
    TurnTrace,
)

EVENTS: ContextVar[Callable[[Any], None] | None] = ContextVar("slmguild_turn_events", default=None)
MAX_HISTORY_MESSAGES = 12  # six turns; the whole conversation stays in the session
MAX_HANDOFFS = 2  # experts passing a turn around stop after this many hops


@dataclass
class TurnWork:
    """The turn under way, between the graph's nodes: who works on it, their progress
    (`ExpertTurn`), and what the trace will say. Plain data, saved with the session
    while a call waits for approval."""

    decision: RouteTrace  # the route it is on
    expert: str  # who works on the turn now
    turn: ExpertTurn | None = None
    hops: int = 0  # handoffs so far
    left: list[RouteTrace] = field(default_factory=list)  # the routes it left: handoffs, escalation
    started: float = field(default_factory=time.perf_counter)  # this process's part of the turn
    first_token_at: float | None = None
    pieces: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    grounding: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    notice: str | None = None  # something the user should know about the turn

    def __post_init__(self) -> None:
        # A turn saved while it waited for approval by a version that kept routes as dicts.
        self.decision = RouteTrace.model_validate(self.decision)
        self.left = [RouteTrace.model_validate(route) for route in self.left]

    def reroute(self, expert: str, reason: str) -> None:
        """The turn goes to `expert` (a handoff, an escalation); the route it leaves stays
        in the trace (`TurnTrace.rerouted_from`)."""
        self.left.append(self.decision)
        self.decision = self.decision.model_copy(update={"expert": expert, "scores": {}, "reason": reason})
        self.expert = expert

    def hand_off(self, handoff: Handoff, write: Callable[[Any], None]) -> None:
        """The turn goes on with the expert `handoff` names: routed there, one hop more."""
        reason = f"handed off by {handoff.expert}: {handoff.reason}"
        write(Routed(handoff.to, reason))
        self.reroute(handoff.to, reason)
        self.hops += 1

    def add(self, event: ExpertEvent, write: Callable[[Any], None] | None) -> None:
        """Record an expert's event and stream what the caller should see (if `write`)."""
        shown: Any = event
        if isinstance(event, StepTimed):
            self.steps.append(event.describe())  # the trace's breakdown, not shown while streaming
            return
        if isinstance(event, Grounding):
            self.grounding = event.describe()  # the trace's; the answer's text follows as a token
            return
        if isinstance(event, PendingCall):
            return  # the turn stops at it: the reply carries it
        if isinstance(event, Retrieved):
            self.retrieved = [describe_hit(hit) for hit in event.hits]
        elif isinstance(event, ToolResult):
            approval = {key: value for key in ("approval", "approval_by", "approval_at")
                        if (value := getattr(event, key)) is not None}
            self.tool_calls.append({**asdict(event.observation), "expert": event.expert, **approval})
        elif not isinstance(event, ToolCall | Handoff):  # a chunk of the answer
            if event.usage_metadata:
                # The token counts; the per-kind details (dicts) are not a reply's usage.
                self.usage = {key: value for key, value in event.usage_metadata.items() if isinstance(value, int)}
            if not event.text:
                return
            # Joining strings, not adding message chunks: this runs once per token.
            self.first_token_at = self.first_token_at or time.perf_counter()
            self.pieces.append(event.text)
            shown = Token(event.text, expert=self.expert)
        if write is not None:
            write(shown)

    def reply(self, expert: Expert) -> dict[str, Any]:
        """The reply so far: its text, who made it, the usage and the `TurnTrace`."""
        finished = time.perf_counter()
        model = _model_label(expert)
        trace = TurnTrace(
            route=self.decision,
            rerouted_from=list(self.left),
            model=model,
            retrieved=[SourceTrace.model_validate(hit) for hit in self.retrieved],
            tools=[ToolCallTrace.model_validate(call) for call in self.tool_calls],
            answer=AnswerTrace.model_validate(self.grounding) if self.grounding else None,
            pending=self.turn.pending if self.turn is not None else None,
            usage=self.usage,
            steps=[StepTrace.model_validate(step) for step in self.steps],
            latency_s=round(finished - self.started, 4),
            first_token_s=round((self.first_token_at or finished) - self.started, 4),
            notice=self.notice,
        )
        return {"text": "".join(self.pieces).strip(), "expert": expert.name, "model": model, "usage": self.usage,
                "trace": trace}


CHECKPOINTED = [  # the slmguild types a saved turn holds, besides LangGraph's and LangChain's
    ("slmguild.orchestrator.graph", "TurnWork"),
    ("slmguild.agents.expert", "ExpertTurn"),
    ("slmguild.agents.events", "PendingCall"),
    ("slmguild.agents.events", "Handoff"),
    ("slmguild.tools.executor", "Observation"),
    ("slmguild.knowledge.chunks", "Hit"),
    ("slmguild.knowledge.chunks", "Chunk"),
    ("slmguild.orchestrator.trace", "RouteTrace"),
    ("slmguild.orchestrator.planner", "Plan"),
    ("slmguild.orchestrator.planner", "Part"),
]
CHECKPOINT_SERDE = JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINTED)
"""The (de)serializer for checkpointers that keep slmguild's sessions (give it to your own)."""


class ConversationState(TypedDict, total=False):
    """What a session keeps between turns, and what a turn passes between nodes."""

    messages: Annotated[list[BaseMessage], add_messages]
    expert: str | None  # who answered last: follow-ups stay with them
    traces: Annotated[list[dict[str, Any]], operator.add]  # one per finished turn
    request: Request
    route: RouteTrace  # a multi-expert turn's route
    plan: Plan  # and how it is split
    work: TurnWork | None  # the turn under way (None once it is answered)
    reply: dict[str, Any]  # this turn's reply (its trace as JSON)


def build_graph(roster: Roster, routing: RoutingPolicy, checkpointer: BaseCheckpointSaver | None = None) -> Any:
    """The compiled graph of a guild's experts (`roster`), routed by its `routing` policy
    (`Guild.graph` builds it); with `checkpointer`, every session is persistent."""
    nodes = _Nodes(roster, routing)
    graph = StateGraph(ConversationState)
    graph.add_node("route", nodes.route, destinations=("retrieve", "escalate", "multi"))
    graph.add_node("retrieve", nodes.retrieve, destinations=("tool_step", "answer", "escalate"))
    graph.add_node("escalate", nodes.escalate, destinations=("answer",))
    graph.add_node("tool_step", nodes.tool_step, destinations=("tool_step", "approve", "answer", "retrieve"))
    graph.add_node("approve", nodes.approve, destinations=("answer",))
    graph.add_node("answer", nodes.answer)
    graph.add_node("multi", nodes.multi)
    graph.add_edge(START, "route")
    graph.add_edge("answer", END)
    graph.add_edge("multi", END)
    return graph.compile(checkpointer=checkpointer)


class _Nodes:
    """The graph's steps, bound to the experts they run and the policy that routes to them."""

    def __init__(self, roster: Roster, routing: RoutingPolicy) -> None:
        self.roster = roster
        self.routing = routing

    def route(self, state: ConversationState) -> Command[Any]:
        """Who answers: the caller's choice, the user's escalation, a plan, or the router."""
        request = state["request"]
        started = time.perf_counter()
        context = self.routing.in_context(request["message"], _previous_query(state))
        decision = self.routing.decide(request, current=state.get("expert"), context=context)
        routing_s = round(time.perf_counter() - started, 4)
        left = state.get("work")  # set only when the last turn stopped for approval
        moved_on = left.turn.pending if left is not None and left.turn is not None else None
        # The user moved on from a call that waited: it never runs.
        update: dict[str, Any] = self._abandon(left) if left is not None and moved_on is not None else {}
        write = _sink()
        if isinstance(decision, Plan):
            write(Planned(tuple((part.expert, part.question) for part in decision.parts)))
            route = RouteTrace(reason=f"spans {', '.join(decision.experts)}", routing_s=routing_s)
            return Command(goto="multi", update={**update, "route": route, "plan": decision, "work": None})
        decision.routing_s = routing_s
        assert decision.expert is not None  # one expert's route
        write(Routed(decision.expert, decision.reason, decision.scores))
        expert = self.roster.expert(decision.expert)
        turn = expert.begin(request["message"], _history(state), query=context.query if context.follows else None,
                            continues=context.follows and expert.name == state.get("expert"))
        work = TurnWork(decision, expert.name, turn, started=started)
        if moved_on is not None:
            work.notice = f"{moved_on.describe()} waited for approval and was not run: you moved on"
        update["work"] = work
        return Command(goto="escalate" if expert.name == ESCALATION else "retrieve", update=update)

    def _abandon(self, left: TurnWork) -> dict[str, Any]:
        """The paused turn a new message leaves behind, finished: its call declined,
        its answer saying so (no model is asked), saved with the conversation."""
        assert left.turn is not None
        expert = self.roster.expert(left.expert)
        for event in [*drive(expert.act(left.turn, Approval(approved=False, reason="abandoned"))),
                      *expert.answer(left.turn)]:
            left.add(event, None)
        done = _finish(left.turn.question, left.reply(expert), None)
        return {"messages": done["messages"], "traces": done["traces"]}

    def retrieve(self, state: ConversationState) -> Command[Any]:
        """The expert searches its documents; when they say nothing relevant, the turn escalates."""
        work = state["work"]
        assert work is not None and work.turn is not None
        expert = self.roster.expert(work.expert)
        if expert.knowledge is not None:
            found = list(expert.search(work.turn))
            if work.hops == 0 and self.routing.should_escalate(work.turn.hits):
                best = max((hit.similarity or 0.0 for hit in work.turn.hits), default=0.0)
                work.reroute(ESCALATION, f"{expert.name}'s documents say nothing relevant (best {best:.2f})")
                for event in found:
                    if isinstance(event, StepTimed):
                        work.add(event, None)  # the search's time, in the trace
                return Command(goto="escalate", update={"work": work})
            for event in found:
                work.add(event, _sink())
        return Command(goto=work.turn.next, update={"work": work})

    def escalate(self, state: ConversationState) -> Command[Any]:
        """The larger model takes the turn (asked for, nobody owns it, or nothing relevant found)."""
        work = state["work"]
        assert work is not None
        escalation = self.roster.expert(ESCALATION)
        _sink()(Escalated(work.decision.reason, _model_label(escalation)))
        work.turn = escalation.begin(state["request"]["message"], _history(state))
        return Command(goto="answer", update={"work": work})

    def tool_step(self, state: ConversationState) -> Command[Any]:
        """One decision of the expert's tool phase, and the calls that need no approval."""
        work = state["work"]
        assert work is not None and work.turn is not None
        expert = self.roster.expert(work.expert)
        write = _sink()
        for event in drive(expert.tool_step(work.turn)):
            work.add(event, write)
        handoff = work.turn.handoff
        if work.turn.next != "handoff" or handoff is None:
            return Command(goto=work.turn.next, update={"work": work})
        if work.hops >= MAX_HANDOFFS:
            work.turn.next = "answer"  # passed around enough: this expert answers
            return Command(goto="answer", update={"work": work})
        work.hand_off(handoff, write)
        work.turn = self.roster.expert(handoff.to).begin(state["request"]["message"], _history(state), query=work.turn.query)
        return Command(goto="retrieve", update={"work": work})

    def approve(self, state: ConversationState) -> Command[Any]:
        """The turn stops until the user approves, edits or refuses the pending call;
        then it runs (or not), and the expert answers."""
        work = state["work"]
        assert work is not None and work.turn is not None and work.turn.pending is not None
        answer = interrupt(asdict(work.turn.pending))  # the resume value: an `Approval`, as a dict
        work.started, work.first_token_at = time.perf_counter(), None  # the user's wait is not the turn's
        expert = self.roster.expert(work.expert)
        for event in drive(expert.act(work.turn, Approval(**answer))):
            work.add(event, _sink())
        return Command(goto="answer", update={"work": work})

    def answer(self, state: ConversationState) -> dict[str, Any]:
        """The expert answers from what its search and tools found."""
        work = state["work"]
        assert work is not None and work.turn is not None
        expert = self.roster.expert(work.expert)
        write = _sink()
        for event in expert.answer(work.turn, state["request"].get("sampling")):
            work.add(event, write)
        return _finish(state["request"]["message"], work.reply(expert), state.get("expert"))

    def multi(self, state: ConversationState) -> dict[str, Any]:
        """Each part to its expert, concurrently; one answer that says who said what.

        A part's expert runs alone: a call that needs approval is not run in a
        multi-expert turn, and the part's answer says so (ask for it on its own). A part
        handed off is answered by the expert it was handed to.
        """
        decision, plan = state["route"], state["plan"]
        write = _sink()
        history = _history(state)

        def answer_part(index: int) -> dict[str, Any]:
            part = plan.parts[index]
            expert = self.roster.expert(part.expert)
            work = TurnWork(decision.model_copy(update={"expert": part.expert}), part.expert)
            # Parts finish out of order: their progress is streamed, their tokens are not.
            hide_tokens = lambda event: None if isinstance(event, Token) else write(event)
            while True:  # a part handed off goes on with the receiver, as a single turn does
                handoff = None
                for event in expert.stream(part.question, history, may_hand_off=work.hops < MAX_HANDOFFS):
                    handoff = event if isinstance(event, Handoff) else handoff
                    work.add(event, hide_tokens)
                if handoff is None:
                    return work.reply(expert)
                work.hand_off(handoff, write)
                expert = self.roster.expert(handoff.to)

        with ThreadPoolExecutor(max_workers=len(plan.parts)) as pool:
            parts = list(pool.map(answer_part, range(len(plan.parts))))
        said = [f"**{part['expert']}**: {part['text']}" for part in parts]
        for part, words in zip(parts, said, strict=True):
            write(Token(words + "\n\n", expert=part["expert"]))
        usage = _sum_usage(part["usage"] for part in parts)
        model = ", ".join(dict.fromkeys(part["model"] for part in parts))
        reply = {
            "text": "\n\n".join(said),
            "expert": "+".join(part["expert"] for part in parts),
            "model": model,
            "usage": usage,
            "trace": TurnTrace(route=decision, plan=plan, model=model, usage=usage,
                               parts=[part["trace"] for part in parts]),
        }
        return _finish(state["request"]["message"], reply, state.get("expert"))


def _sink() -> Callable[[Any], None]:
    """Where a node's events go: the guild's turn (`EVENTS`, set by `Guild.stream`), else
    LangGraph's custom stream (a no-op unless the caller streams it)."""
    return EVENTS.get() or get_stream_writer()


def approval_request(pending: PendingCall) -> str:
    """What the user is asked when a turn stops for approval."""
    return (f"This needs your approval: {pending.expert} would run {pending.describe()}. "
            "Approve it, edit its arguments, or refuse it.")


def _previous_query(state: ConversationState) -> str | None:
    """The question in context of the conversation's last turn (None at its start): the
    turn that waits for approval, if one does, else the last finished one."""
    left = state.get("work")
    if left is not None and left.turn is not None:
        return left.turn.query or left.turn.question
    traces = state.get("traces") or []
    if not traces:
        return None
    last = traces[-1]  # saved as JSON
    return (last.get("route") or {}).get("query") or last.get("message") or None


def _history(state: ConversationState) -> list[BaseMessage]:
    """The conversation so far, its last turns only: a small model's context is small."""
    return list(state.get("messages", []))[-MAX_HISTORY_MESSAGES:]


def _finish(message: str, reply: dict[str, Any], current: str | None) -> dict[str, Any]:
    """The turn's changes to the conversation: both messages, the expert (`current`:
    who the conversation was with), the trace. The trace is kept as its JSON, without its
    empty fields: every checkpoint of a session writes all of its turns' traces again."""
    expert = reply["expert"] if "+" not in reply["expert"] else current
    trace = reply["trace"].model_copy(update={"message": message, "expert": reply["expert"], "text": reply["text"]})
    saved = trace.model_dump(mode="json", exclude_defaults=True)
    return {
        "messages": [HumanMessage(message), AIMessage(reply["text"], name=reply["expert"].replace("+", "_"))],
        "expert": expert if expert not in (FALLBACK, ESCALATION) else current,
        "traces": [saved],
        "work": None,
        "reply": {**reply, "trace": saved},
    }


def _sum_usage(usages: Iterator[dict[str, int]] | Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for usage in usages:
        for key, value in usage.items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total


def _model_label(expert: Expert) -> str:
    spec = expert.spec
    label = f"{spec.backend}:{spec.name}"
    return f"{label}+{spec.adapter}" if spec.adapter else label
