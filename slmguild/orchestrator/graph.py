"""The orchestrator graph: route → answer (one expert, several, or escalation) → reply.

A LangGraph `StateGraph` whose state is the conversation: its messages, the expert it
is with (so that follow-ups stay), and every turn's trace. With a checkpointer, that
state is saved after each step, per session (`thread_id`). Nodes are synchronous and
emit their events (`Routed`, `Retrieved`, `Token`, ...) as they happen to the turn's
event sink (`EVENTS`), which `Guild.stream` drains while the graph runs.

Why not LangGraph's own "custom" stream mode: it runs every node in a background
thread with a waiter per step, which measured ~8 ms a turn on a two-node graph
(`invoke`: 0.9 ms) — most of the framework's overhead budget.
"""

from __future__ import annotations

import operator
import time
from contextvars import ContextVar
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from slmguild.agents import Expert, ExpertEvent, Handoff, Retrieved, StepTimed, ToolCall, ToolResult
from slmguild.agents.grounded import Grounding
from slmguild.knowledge.citations import describe_hit
from slmguild.orchestrator.events import Escalated, Planned, Routed, Token
from slmguild.orchestrator.planner import Plan

if TYPE_CHECKING:
    from slmguild.orchestrator.guild import Guild

EVENTS: ContextVar[Callable[[Any], None]] = ContextVar("slmguild_turn_events")
FALLBACK, ESCALATION = "fallback", "escalation"
MAX_HISTORY_MESSAGES = 12  # six turns; the whole conversation stays in the session
MAX_HANDOFFS = 2  # experts passing a turn around stop after this many hops
Route = Literal["answer", "multi"]


class Request(TypedDict, total=False):
    """This turn's input: the message and the caller's overrides."""

    message: str
    expert: str | None  # forced by the caller (tests, `/expert NAME`)
    escalate: bool  # the user asked for the escalation model


class ConversationState(TypedDict, total=False):
    """What a session keeps between turns, and what a turn passes between nodes."""

    messages: Annotated[list[BaseMessage], add_messages]
    expert: str | None  # who answered last: follow-ups stay with them
    traces: Annotated[list[dict[str, Any]], operator.add]  # one per finished turn
    request: Request
    route: dict[str, Any]  # this turn's decision: who, why, scores, plan
    reply: dict[str, Any]  # this turn's reply


def build_graph(guild: Guild, checkpointer: BaseCheckpointSaver | None = None) -> Any:
    """The compiled graph of `guild`; with `checkpointer`, every session is persistent."""
    nodes = _Nodes(guild)
    graph = StateGraph(ConversationState)
    graph.add_node("route", nodes.route)
    graph.add_node("answer", nodes.answer)
    graph.add_node("multi", nodes.multi)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", nodes.next_after_route, ["answer", "multi"])
    graph.add_edge("answer", END)
    graph.add_edge("multi", END)
    return graph.compile(checkpointer=checkpointer)


class _Nodes:
    """The graph's steps, bound to the guild whose experts they run."""

    def __init__(self, guild: Guild) -> None:
        self.guild = guild

    def route(self, state: ConversationState) -> dict[str, Any]:
        """Who answers: the caller's choice, the user's escalation, a plan, or the router."""
        request = state["request"]
        started = time.perf_counter()
        decision = self.guild.decide(request, current=state.get("expert"))
        decision["routing_s"] = round(time.perf_counter() - started, 4)
        write = EVENTS.get()
        if plan := decision.get("plan"):
            write(Planned(tuple((part["expert"], part["question"]) for part in plan["parts"])))
        else:
            write(Routed(decision["expert"], decision["reason"], decision.get("scores", {})))
        if decision["expert"] == ESCALATION:
            write(Escalated(decision["reason"], _model_label(self.guild.expert(ESCALATION))))
        return {"route": decision}

    def next_after_route(self, state: ConversationState) -> Route:
        return "multi" if state["route"].get("plan") else "answer"

    def answer(self, state: ConversationState) -> dict[str, Any]:
        """One expert answers (or the escalation model, when the expert's documents are silent)."""
        request, decision = state["request"], state["route"]
        write = EVENTS.get()
        expert = self.guild.expert(decision["expert"])
        history = _history(state)
        started = time.perf_counter()
        hits = expert.retrieve(request["message"]) if expert.knowledge is not None else None
        searched = StepTimed(expert.name, "retrieve", time.perf_counter() - started)
        if hits is not None and self.guild.should_escalate(hits):
            best = max((hit.similarity or 0.0 for hit in hits), default=0.0)
            expert = self.guild.escalation
            decision = {**decision, "expert": ESCALATION,
                        "reason": f"{decision['expert']}'s documents say nothing relevant (best {best:.2f})"}
            write(Escalated(decision["reason"], _model_label(expert)))
            hits = None
        for _hop in range(MAX_HANDOFFS + 1):
            recorder = TurnRecorder(expert, write, started=started)
            if hits is not None:
                recorder.add(searched)  # searched here, before the expert, to decide on escalation
            for event in expert.stream(request["message"], history, hits=hits):
                recorder.add(event)
            if recorder.handoff is None:
                break
            handoff, hits = recorder.handoff, None  # the next expert searches its own documents
            started = time.perf_counter()
            decision = {**decision, "expert": handoff.to, "scores": {},
                        "reason": f"handed off by {handoff.expert}: {handoff.reason}"}
            write(Routed(handoff.to, decision["reason"]))
            expert = self.guild.expert(handoff.to)
        return _finish(state, recorder.reply(decision))

    def multi(self, state: ConversationState) -> dict[str, Any]:
        """Each part to its expert, concurrently; one answer that says who said what."""
        decision = state["route"]
        plan = Plan.model_validate(decision["plan"])
        write = EVENTS.get()
        history = _history(state)

        def answer_part(index: int) -> dict[str, Any]:
            part = plan.parts[index]
            expert = self.guild.expert(part.expert)
            # Parts finish out of order: their progress is streamed, their tokens are not.
            recorder = TurnRecorder(expert, write=lambda event: None if isinstance(event, Token) else write(event))
            for event in expert.stream(part.question, history):
                recorder.add(event)
            return recorder.reply({**decision, "expert": part.expert, "question": part.question})

        with ThreadPoolExecutor(max_workers=len(plan.parts)) as pool:
            parts = list(pool.map(answer_part, range(len(plan.parts))))
        said = [f"**{part['expert']}**: {_brief(part)}" for part in parts]
        for part, words in zip(parts, said, strict=True):
            write(Token(words + "\n\n", expert=part["expert"]))
        reply = {
            "text": "\n\n".join(said),
            "expert": "+".join(part["expert"] for part in parts),
            "model": ", ".join(dict.fromkeys(part["model"] for part in parts)),
            "usage": _sum_usage(part["usage"] for part in parts),
            "trace": {**decision, "parts": [part["trace"] for part in parts]},
        }
        return _finish(state, reply)


def _brief(part: dict[str, Any]) -> str:
    """A part's answer in a multi-expert reply, kept short: a grounded part gives its checked
    sentence, or else its best passage, with the document it comes from."""
    answer = part["trace"].get("answer")
    if not answer or not answer["passages"] or answer["outcome"] not in ("checked", "quoted"):
        return part["text"]
    best = answer["passages"][0]
    if answer["outcome"] == "checked":
        return f"{answer['draft']} [{best['id']}]" if f"[{best['id']}]" not in answer["draft"] else answer["draft"]
    return f"[{best['id']}] {best['text']}"


def _history(state: ConversationState) -> list[BaseMessage]:
    """The conversation so far, its last turns only: a small model's context is small."""
    return list(state.get("messages", []))[-MAX_HISTORY_MESSAGES:]


def _finish(state: ConversationState, reply: dict[str, Any]) -> dict[str, Any]:
    """The turn's changes to the conversation: both messages, the expert, the trace."""
    message = state["request"]["message"]
    expert = reply["expert"] if "+" not in reply["expert"] else state.get("expert")
    # The reply's own fields last: a multi-expert trace carries the routing decision, whose
    # `expert` (None: several answered) must not replace who answered ("hr+finance").
    trace = {"message": message, **reply["trace"], "expert": reply["expert"], "text": reply["text"]}
    return {
        "messages": [HumanMessage(message), AIMessage(reply["text"], name=reply["expert"].replace("+", "_"))],
        "expert": expert if expert not in (FALLBACK, ESCALATION) else state.get("expert"),
        "traces": [trace],
        "reply": reply,
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


class TurnRecorder:
    """Collects one expert's events into a reply, streaming each as it comes (if `write`)."""

    def __init__(self, expert: Expert, write: Callable[[Any], None] | None, *, started: float | None = None) -> None:
        self.expert = expert
        self.write = write
        self.pieces: list[str] = []
        self.usage: dict[str, int] = {}
        self.started = started or time.perf_counter()  # the turn's clock: from before its search, if any
        self.first_token_at: float | None = None
        self.tool_calls: list[dict[str, Any]] = []
        self.retrieved: list[dict[str, Any]] = []
        self.handoff: Handoff | None = None
        self.grounding: dict[str, Any] | None = None
        self.steps: list[dict[str, Any]] = []

    def add(self, event: ExpertEvent) -> None:
        """Record an expert's event and stream what the caller should see."""
        shown: Any = event
        if isinstance(event, StepTimed):
            self.steps.append(event.describe())  # the trace's breakdown, not shown while streaming
            return
        if isinstance(event, Grounding):
            self.grounding = event.describe()  # the trace's; the answer's text follows as a token
            return
        if isinstance(event, Handoff):
            self.handoff = event
        elif isinstance(event, Retrieved):
            self.retrieved = [describe_hit(hit) for hit in event.hits]
        elif isinstance(event, ToolResult):
            self.tool_calls.append({**asdict(event.observation), "expert": event.expert})
        elif not isinstance(event, ToolCall):  # a chunk of the answer
            if event.usage_metadata:
                self.usage = dict(event.usage_metadata)
            if not event.text:
                return
            # Joining strings, not adding message chunks: this runs once per token.
            self.first_token_at = self.first_token_at or time.perf_counter()
            self.pieces.append(event.text)
            shown = Token(event.text, expert=self.expert.name)
        if self.write is not None:
            self.write(shown)

    def reply(self, decision: dict[str, Any]) -> dict[str, Any]:
        """The finished reply, as a plain dict (it is checkpointed with the session)."""
        finished = time.perf_counter()
        model = _model_label(self.expert)
        return {
            "text": "".join(self.pieces).strip(),
            "expert": self.expert.name,
            "model": model,
            "usage": self.usage,
            "trace": {
                "route": {key: decision[key] for key in ("expert", "reason", "scores", "routing_s") if key in decision},
                "model": model,
                "retrieved": self.retrieved,
                "tools": self.tool_calls,
                **({"answer": self.grounding} if self.grounding else {}),
                "usage": self.usage,
                "steps": self.steps,
                "latency_s": round(finished - self.started, 4),
                "first_token_s": round((self.first_token_at or finished) - self.started, 4),
            },
        }
