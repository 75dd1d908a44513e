"""OpenTelemetry traces of turns: each turn's `TurnTrace` exported as a tree of spans.

Off unless the guild file says `telemetry: {enabled: true}` or `SLMGUILD_TELEMETRY=1`
(`SLMGUILD_TELEMETRY=0` or OpenTelemetry's `OTEL_SDK_DISABLED=true` switch it off). The
spans go to the tracer provider the application configured (the global one): slmguild
installs no exporter. Names and attributes follow OpenTelemetry's GenAI semantic
conventions; they are written out here because the incubating constants module marks
them as moved to a separate conventions repository. What was said (messages, queries,
tool arguments and results) is recorded only when content capture is on, as those
conventions ask. `docs/telemetry.md` is the user's page.

    invoke_agent <guild>              the turn (gen_ai.conversation.id: the session)
    ├── route                         who answers, why, the router's scores
    ├── handoff <expert> | escalate   a hop the turn took
    └── invoke_agent <expert>         the expert that answered (one per part of a multi-expert turn)
        ├── retrieval <expert>        chunk ids and scores
        ├── chat <model>              a tool-step decision (slmguild.step = tool_step)
        ├── approval <tool>           waiting / approved / edited / refused
        ├── execute_tool <tool>
        └── chat <model>              the answer: model, provider, adapter, tokens

Why the spans are made from the finished trace, not opened live in the graph's nodes:
the trace already holds every hop with its measured duration, so one function at the
turn's end covers them all, the graph stays untouched (it may be restructured), and
nothing runs while telemetry is off. The price: the trace keeps durations, not clock
times, so spans are laid end to end in the order the turn ran its steps, ending when the
turn ended — each duration is measured, each start reconstructed — and spans of other
instrumentations (an HTTP call to a model server) do not nest under these.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slmguild.config import ModelSpec, TelemetryConfig
from slmguild.errors import UnknownExpert, require
from slmguild.orchestrator.trace import StepTrace, ToolCallTrace, TurnTrace

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, TracerProvider

    from slmguild.orchestrator.events import Reply
    from slmguild.orchestrator.roster import Roster

log = logging.getLogger("slmguild.orchestrator")

ENABLE_ENV = "SLMGUILD_TELEMETRY"
DISABLED_ENV = "OTEL_SDK_DISABLED"  # OpenTelemetry's own off switch
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"  # the GenAI instrumentations' switch

OPERATION = "gen_ai.operation.name"
AGENT = "gen_ai.agent.name"
CONVERSATION = "gen_ai.conversation.id"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHED_TOKENS = "gen_ai.usage.cache_read.input_tokens"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
DATA_SOURCE = "gen_ai.data_source.id"
DOCUMENTS = "gen_ai.retrieval.documents"
QUERY = "gen_ai.retrieval.query.text"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"

# gen_ai.provider.name of each backend. `openai` is the API an OpenAI-compatible server
# speaks (llama-server, vLLM...): slmguild.model.backend keeps the backend's own name.
PROVIDERS = {"embedded": "llama.cpp", "ollama": "ollama", "openai": "openai"}
FAILED = ("error", "invalid", "unknown", "refused")  # tool call outcomes that are errors
HANDED_OFF = "handed off by "  # how graph.py starts a handoff's route reason


def _flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def telemetry_enabled(config: TelemetryConfig) -> bool:
    """Whether turns are exported: `OTEL_SDK_DISABLED=true` says no, else
    `SLMGUILD_TELEMETRY` when set, else the guild file's `telemetry.enabled`."""
    if os.environ.get(DISABLED_ENV, "").strip().lower() == "true":
        return False
    enabled = _flag(ENABLE_ENV)
    return config.enabled if enabled is None else enabled


def content_captured(config: TelemetryConfig) -> bool:
    """Whether spans record what was said: the GenAI capture variable when set, else the file."""
    captured = _flag(CAPTURE_ENV)
    return config.capture_content if captured is None else captured


def turn_spans(guild: Roster) -> TurnSpans | None:
    """The exporter of the turns of `guild` (its roster), or None while telemetry is off (nothing of
    OpenTelemetry is imported then). Raises `MissingExtra` naming `otel` when it is on
    but OpenTelemetry is not installed."""
    settings = guild.config.telemetry
    if not telemetry_enabled(settings):
        return None

    def spec(expert: str) -> ModelSpec | None:
        try:
            return guild.expert(expert).spec
        except UnknownExpert:
            return None

    return TurnSpans(guild.config.name, spec, capture_content=content_captured(settings))


@dataclass
class _Timeline:
    """Where the next span starts (ns since the epoch); no span ends after `end`."""

    at: int
    end: int

    def take(self, seconds: float | None) -> tuple[int, int]:
        start = min(self.at, self.end)
        self.at = min(start + int((seconds or 0.0) * 1e9), self.end)
        return start, self.at


class TurnSpans:
    """Exports turns as OpenTelemetry spans (the module's doc shows the tree).

    `guild`: the guild's name; `spec`: the model spec of an expert, by name (None if
    unknown); `capture_content`: record messages, queries, tool arguments and results;
    `tracer_provider`: where the spans go (default: the global provider).
    """

    def __init__(
        self,
        guild: str,
        spec: Callable[[str], ModelSpec | None],
        *,
        capture_content: bool = False,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.otel = require("opentelemetry.trace", "otel")
        from slmguild import __version__

        self.tracer = self.otel.get_tracer("slmguild", __version__, tracer_provider=tracer_provider)
        self.guild, self.spec, self.capture_content = guild, spec, capture_content

    def export(self, reply: Reply, *, resumed: bool = False) -> None:
        """The spans of the turn that ended with `reply`, ending now. A turn that stops
        for approval is one trace (ending in a waiting `approval` span), its resumption
        another (`resumed`: only what ran after the user's answer)."""
        try:
            self._export(reply, resumed)
        except Exception:  # telemetry must never cost the user their answer
            log.warning("could not export the turn's spans", exc_info=True)

    def _export(self, reply: Reply, resumed: bool) -> None:
        trace, end = reply.trace, time.time_ns()
        routing = trace.route.routing_s if trace.route is not None and not resumed else None
        if trace.parts:  # a multi-expert trace has no latency of its own: routing, then its slowest part
            seconds = (routing or 0.0) + max(part.latency_s or 0.0 for part in trace.parts)
        else:
            seconds = trace.latency_s or 0.0
        line = _Timeline(end - int(seconds * 1e9), end)
        common = {CONVERSATION: reply.session}
        outcome = "paused" if reply.pending is not None else "resumed" if resumed else "answered"
        attributes = {OPERATION: "invoke_agent", AGENT: self.guild, **common, "slmguild.turn.outcome": outcome,
                      "slmguild.expert": reply.expert, "slmguild.model": reply.model,
                      "slmguild.turn.notice": trace.notice, **_tokens(reply.usage, {})}
        if self.capture_content:
            attributes[INPUT_MESSAGES] = _messages("user", trace.message) if trace.message else None
            attributes[OUTPUT_MESSAGES] = _messages("assistant", reply.text)
        root = self._span(f"invoke_agent {self.guild}", None, line.at, attributes)
        inside = self.otel.set_span_in_context(root)
        if trace.route is not None and not resumed:
            self._route(trace, inside, line.take(routing), common)
        if trace.parts:  # the parts ran at the same time, each from the end of routing
            for part in trace.parts:
                self._expert(part, inside, _Timeline(line.at, end), common, resumed=False)
        else:
            if not resumed:
                self._hop(trace, inside, line.at, common)
            self._expert(trace, inside, line, common, resumed=resumed)
        root.end(end)

    def _span(self, name: str, context: Context | None, start: int, attributes: dict[str, Any],
              *, client: bool = False) -> Span:
        """A span started at `start`, under `context` (None: the caller's current span)."""
        kind = self.otel.SpanKind.CLIENT if client else self.otel.SpanKind.INTERNAL
        shown = {key: value for key, value in attributes.items() if value is not None}
        return self.tracer.start_span(name, context=context, kind=kind, attributes=shown, start_time=start)

    def _ended(self, name: str, context: Context, times: tuple[int, int], attributes: dict[str, Any],
               *, client: bool = False) -> Span:
        span = self._span(name, context, times[0], attributes, client=client)
        span.end(times[1])
        return span

    def _route(self, trace: TurnTrace, context: Context, times: tuple[int, int], common: dict[str, Any]) -> None:
        route = trace.route
        assert route is not None
        attributes: dict[str, Any] = {**common, "slmguild.route.expert": route.expert,
                                      "slmguild.route.reason": route.reason}
        attributes |= {f"slmguild.route.score.{expert}": score for expert, score in route.scores.items()}
        if trace.plan is not None:
            attributes["slmguild.route.plan"] = [part.expert for part in trace.plan.parts]
        if self.capture_content:
            attributes["slmguild.route.query"] = route.query
        self._ended("route", context, times, attributes)

    def _hop(self, trace: TurnTrace, context: Context, at: int, common: dict[str, Any]) -> None:
        """A handoff or an escalation, as the route records it (only the turn's last hop is kept)."""
        route = trace.route
        if route is None or route.expert is None:
            return
        if route.expert == "escalation":
            name, attributes = "escalate", {"slmguild.hop.kind": "escalation"}
        elif route.reason.startswith(HANDED_OFF):
            name = f"handoff {route.expert}"
            attributes = {"slmguild.hop.kind": "handoff",
                          "slmguild.hop.from": route.reason.removeprefix(HANDED_OFF).split(":", 1)[0]}
        else:
            return
        attributes |= {**common, "slmguild.hop.to": route.expert, "slmguild.hop.reason": route.reason}
        self._ended(name, context, (at, at), attributes)

    def _expert(self, part: TurnTrace, context: Context, line: _Timeline, common: dict[str, Any],
                *, resumed: bool) -> None:
        """The expert's span and its steps, laid out in the order the expert ran them."""
        name = (part.route.expert if part.route is not None else None) or part.expert
        spec = self.spec(name)
        agent = {AGENT: name, **common}
        span = self._span(f"invoke_agent {name}", context, line.at,
                          {OPERATION: "invoke_agent", **agent, **_model(spec)})
        inside = self.otel.set_span_in_context(span)
        steps, calls = part.steps, list(part.tools)
        if resumed:  # what ran before the pause was exported with it
            last_step = max((i for i, step in enumerate(steps) if step.step == "tool_step"), default=-1)
            steps, calls = steps[last_step + 1:], [call for call in calls if call.approval is not None]
        last_search = max((i for i, step in enumerate(steps) if step.step == "retrieve"), default=-1)
        for index, step in enumerate(steps):
            if step.step == "retrieve":
                self._retrieval(part, name, inside, line.take(step.seconds), agent, found=index == last_search)
            elif step.skipped:  # no model was asked: only the time to decide so
                line.take(step.seconds)
            elif step.step == "tool_step":
                self._chat(spec, step, inside, line.take(step.seconds), agent, {})
                if calls:  # the trace does not say which decision made which call: one each, in order
                    self._tool(calls.pop(0), inside, line, agent)
            else:  # the answer, after every call
                while calls:
                    self._tool(calls.pop(0), inside, line, agent)
                answer = {"slmguild.answer.strategy": part.answer.strategy,
                          "slmguild.answer.outcome": part.answer.outcome} if part.answer is not None else {}
                self._chat(spec, step, inside, line.take(step.seconds), agent, part.usage, answer)
        while calls:
            self._tool(calls.pop(0), inside, line, agent)
        if part.pending is not None:
            attributes = {**agent, TOOL_NAME: part.pending.tool, "slmguild.approval.outcome": "waiting",
                          "slmguild.approval.waited": True}
            if self.capture_content:
                attributes[TOOL_ARGUMENTS] = json.dumps(part.pending.arguments)
            self._ended(f"approval {part.pending.tool}", inside, (line.at, line.at), attributes)
        span.end(line.end)

    def _retrieval(self, part: TurnTrace, expert: str, context: Context, times: tuple[int, int],
                   agent: dict[str, Any], *, found: bool) -> None:
        attributes: dict[str, Any] = {OPERATION: "retrieval", DATA_SOURCE: expert, **agent}
        if found:  # an earlier search (before a handoff) is timed, but its chunks are not kept
            hits = part.retrieved
            attributes |= {"slmguild.retrieval.count": len(hits),
                           "slmguild.retrieval.chunk_ids": [hit.chunk for hit in hits],
                           "slmguild.retrieval.sources": [hit.id for hit in hits],
                           "slmguild.retrieval.scores": [hit.score for hit in hits],
                           DOCUMENTS: json.dumps([{"id": hit.chunk, "score": hit.score} for hit in hits])}
            if self.capture_content:
                attributes[QUERY] = (part.route.query if part.route is not None else None) or part.message or None
        self._ended(f"retrieval {expert}", context, times, attributes)

    def _chat(self, spec: ModelSpec | None, step: StepTrace, context: Context, times: tuple[int, int],
              agent: dict[str, Any], usage: dict[str, int], more: dict[str, Any] | None = None) -> None:
        attributes = {OPERATION: "chat", **agent, **_model(spec), "slmguild.step": step.step,
                      **_tokens(usage, step.engine), **{f"slmguild.engine.{k}": v for k, v in step.engine.items()},
                      **(more or {})}
        model = spec.name if spec is not None else "unknown"
        remote = spec is not None and spec.backend != "embedded"
        self._ended(f"chat {model}", context, times, attributes, client=remote)

    def _tool(self, call: ToolCallTrace, context: Context, line: _Timeline, agent: dict[str, Any]) -> None:
        """A call's approval (when it was asked for) and its run (unless it was declined)."""
        agent = {**agent, AGENT: call.expert or agent[AGENT]}
        if call.approval is not None:
            attributes = {**agent, TOOL_NAME: call.tool, "slmguild.approval.outcome": call.approval,
                          "slmguild.approval.waited": call.approval != "unasked",
                          "slmguild.approval.at": call.approval_at}
            if self.capture_content:  # it names a person
                attributes["slmguild.approval.by"] = call.approval_by
            self._ended(f"approval {call.tool}", context, (line.at, line.at), attributes)
        if call.status == "declined":
            return
        attributes = {OPERATION: "execute_tool", **agent, TOOL_NAME: call.tool, TOOL_TYPE: "function",
                      "slmguild.tool.status": call.status}
        if self.capture_content:
            attributes |= {TOOL_ARGUMENTS: json.dumps(call.arguments), TOOL_RESULT: call.content}
        if call.status in FAILED:
            attributes[ERROR_TYPE] = call.status
        span = self._span(f"execute_tool {call.tool}", context, line.at, attributes)
        if call.status in FAILED:
            span.set_status(self.otel.Status(self.otel.StatusCode.ERROR, call.status))
        span.end(line.take(call.duration_s)[1])


def _model(spec: ModelSpec | None) -> dict[str, Any]:
    if spec is None:
        return {}
    return {REQUEST_MODEL: spec.name, PROVIDER: PROVIDERS.get(spec.backend or "", spec.backend),
            "slmguild.model.backend": spec.backend, "slmguild.model.adapter": spec.adapter}


def _tokens(usage: dict[str, int], engine: dict[str, float]) -> dict[str, Any]:
    """Token counts: the reply's usage, else llama.cpp's timings (prompt tokens evaluated
    plus those reused from its cache)."""
    tokens: dict[str, Any] = {INPUT_TOKENS: usage.get("input_tokens"), OUTPUT_TOKENS: usage.get("output_tokens")}
    if tokens[INPUT_TOKENS] is None and "prompt_n" in engine:
        tokens[INPUT_TOKENS] = int(engine["prompt_n"] + engine.get("cache_n", 0))
    if tokens[OUTPUT_TOKENS] is None and "predicted_n" in engine:
        tokens[OUTPUT_TOKENS] = int(engine["predicted_n"])
    if "cache_n" in engine:
        tokens[CACHED_TOKENS] = int(engine["cache_n"])
    return tokens


def _messages(role: str, text: str) -> str:
    """A message in the GenAI conventions' JSON shape."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])
