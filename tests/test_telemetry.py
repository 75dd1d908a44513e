"""OpenTelemetry spans of turns: scripted guilds, the SDK's in-memory exporter, exact
names, parents and GenAI attributes; off by default."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import slmguild
from slmguild.config import GuildConfig, TelemetryConfig
from slmguild.errors import MissingExtra
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator.telemetry import content_captured, telemetry_enabled
from slmguild.testing import FakeEmbedder, ScriptedModel
from slmguild.testing.steps import ANSWER_STEP, tool_step

TOOLBOX = '''\
import slmguild

@slmguild.tool(changes=True, examples=[("Please order a repair for my screen", {"summary": "Broken screen"})])
def order_repair(summary: str) -> str:
    """Order a repair of a device.

    Args:
        summary: What is broken, in one sentence.
    """
    return "repair R-77 ordered"

@slmguild.tool(examples=[("where is repair R-12", {"repair": "R-12"})])
def repair_status(repair: str) -> str:
    """Where a repair stands.

    Args:
        repair: The repair's number, e.g. R-12.
    """
    return f"{repair} is on its way back"
'''
ENV = ("SLMGUILD_TELEMETRY", "OTEL_SDK_DISABLED", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
MODEL = {"gen_ai.request.model": "smollm2-135m-instruct", "gen_ai.provider.name": "llama.cpp",
         "slmguild.model.backend": "embedded"}


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The in-memory exporter on the global tracer provider, as an application would set it
    (the global provider is set once per process: add to it when it is an SDK one already)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(exporter, monkeypatch) -> InMemorySpanExporter:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    exporter.clear()
    return exporter


@pytest.fixture
def desk(tmp_path, write_guild) -> Path:
    (tmp_path / "repair_tools.py").write_text(TOOLBOX)
    return write_guild(textwrap.dedent(f"""\
        name: desk
        toolboxes: [repair_tools.py]
        sessions: {{store: {tmp_path / "sessions.sqlite"}}}
        answer: {{strategy: generative}}
        telemetry: {{enabled: true}}
        experts:
          it:
            description: IT
            system_prompt: You are the IT help desk.
            tools: [order_repair, repair_status]
        """))


class CountingModel(ScriptedModel):
    """Streams its replies like a llama.cpp server: the last chunk says how many tokens."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        yield from super()._stream(messages, stop, run_manager, **kwargs)
        timings = {"prompt_n": 9, "cache_n": 32, "prompt_ms": 40.0, "predicted_n": 7, "predicted_ms": 60.0}
        usage = {"input_tokens": 41, "output_tokens": 7, "total_tokens": 48}
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage,
                                                         response_metadata={"timings": timings}))


def scripted(path: Path, *replies) -> slmguild.Guild:
    guild = slmguild.load_guild(path)
    guild.expert("it").model = ScriptedModel(replies=list(replies))
    return guild


def tree(spans: list[ReadableSpan]) -> list[tuple[str, str | None]]:
    """(span, its parent's name) in start order — the shape of the trace."""
    by_id = {span.context.span_id: span for span in spans}

    def depth(span: ReadableSpan) -> int:
        return 1 + depth(by_id[span.parent.span_id]) if span.parent and span.parent.span_id in by_id else 0

    # Spans of no duration start together: parents first, then in the order they ended.
    ordered = sorted(spans, key=lambda span: (span.start_time, depth(span)))
    return [(span.name, by_id[span.parent.span_id].name if span.parent and span.parent.span_id in by_id else None)
            for span in ordered]


def named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [span for span in spans if span.name == name]
    return span


def test_a_turn_that_waits_for_approval_then_runs_the_call_is_two_span_trees(desk, spans):
    guild = scripted(desk, tool_step("order_repair", summary="Cracked screen"), "Repair R-77 is ordered.")
    paused = guild.run("Please order a repair: my screen is cracked.", expert="it", session="s")
    assert paused.pending is not None
    first = spans.get_finished_spans()
    root = first[-1]  # ended last
    assert root.name == "invoke_agent desk" and root.parent is None
    assert {span.name: span.parent.span_id == root.context.span_id for span in first if span.parent} == {
        "route": True, "invoke_agent it": True, "chat smollm2-135m-instruct": False, "approval order_repair": False}
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "desk", "gen_ai.conversation.id": "s",
        "slmguild.turn.outcome": "paused", "slmguild.expert": "it", "slmguild.model": "embedded:smollm2-135m-instruct"}
    assert dict(named(first, "route").attributes) == {
        "gen_ai.conversation.id": "s", "slmguild.route.expert": "it", "slmguild.route.reason": "forced by the caller"}
    decision = named(first, "chat smollm2-135m-instruct")
    assert dict(decision.attributes) == {"gen_ai.operation.name": "chat", "gen_ai.agent.name": "it",
                                         "gen_ai.conversation.id": "s", **MODEL, "slmguild.step": "tool_step"}
    waiting = named(first, "approval order_repair")
    assert dict(waiting.attributes) == {"gen_ai.agent.name": "it", "gen_ai.conversation.id": "s",
                                        "gen_ai.tool.name": "order_repair", "slmguild.approval.outcome": "waiting",
                                        "slmguild.approval.waited": True}  # no arguments: content is opt-in
    expert = named(first, "invoke_agent it")
    assert waiting.parent.span_id == decision.parent.span_id == expert.context.span_id
    assert len({span.context.trace_id for span in first}) == 1

    spans.clear()
    reply = guild.resume("s", approve={"summary": "Cracked screen on laptop L-12"})
    assert reply.text == "Repair R-77 is ordered."
    second = spans.get_finished_spans()
    assert [name for name, _ in tree(second)] == [  # what ran before the pause is not exported again
        "invoke_agent desk", "invoke_agent it", "approval order_repair", "execute_tool order_repair",
        "chat smollm2-135m-instruct"]
    assert tree(second)[1:] == [("invoke_agent it", "invoke_agent desk"), ("approval order_repair", "invoke_agent it"),
                                ("execute_tool order_repair", "invoke_agent it"),
                                ("chat smollm2-135m-instruct", "invoke_agent it")]
    assert named(second, "invoke_agent desk").attributes["slmguild.turn.outcome"] == "resumed"
    approval = named(second, "approval order_repair").attributes
    assert (approval["slmguild.approval.outcome"], approval["slmguild.approval.waited"]) == ("edited", True)
    assert "slmguild.approval.by" not in approval
    assert dict(named(second, "execute_tool order_repair").attributes) == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.agent.name": "it", "gen_ai.conversation.id": "s",
        "gen_ai.tool.name": "order_repair", "gen_ai.tool.type": "function", "slmguild.tool.status": "ok"}
    assert named(second, "chat smollm2-135m-instruct").attributes["slmguild.step"] == "answer"
    assert {span.context.trace_id for span in second}.isdisjoint({span.context.trace_id for span in first})


def test_content_is_recorded_only_when_capture_is_on(desk, spans, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    guild = scripted(desk, tool_step("repair_status", repair="R-77"), ANSWER_STEP, "It is on its way back.")
    with trace.get_tracer("app").start_as_current_span("POST /ask") as request:
        reply = guild.run("Where is repair R-77?", expert="it")
    assert reply.text == "It is on its way back." and reply.session is None
    finished = [span for span in spans.get_finished_spans() if span.name != "POST /ask"]
    assert [name for name, _ in tree(finished)] == [  # decide, call, decide to answer, answer
        "invoke_agent desk", "route", "invoke_agent it", "chat smollm2-135m-instruct", "execute_tool repair_status",
        "chat smollm2-135m-instruct", "chat smollm2-135m-instruct"]
    call = named(finished, "execute_tool repair_status").attributes
    assert json.loads(call["gen_ai.tool.call.arguments"]) == {"repair": "R-77"}
    assert call["gen_ai.tool.call.result"] == reply.trace.tools[0].content
    assert named(finished, "invoke_agent desk").parent.span_id == request.get_span_context().span_id  # the app's
    root = named(finished, "invoke_agent desk").attributes
    assert "gen_ai.conversation.id" not in root  # a turn without a session
    assert json.loads(root["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Where is repair R-77?"}]}]
    assert json.loads(root["gen_ai.output.messages"])[0]["parts"][0]["content"] == "It is on its way back."
    # the spans' durations are the trace's own
    tool = named(finished, "execute_tool repair_status")
    assert tool.end_time - tool.start_time == int(reply.trace.tools[0].duration_s * 1e9)
    top = named(finished, "invoke_agent desk")
    assert top.end_time - top.start_time == int(reply.trace.latency_s * 1e9)
    assert all(top.start_time <= span.start_time <= span.end_time <= top.end_time for span in finished)


@pytest.mark.asyncio
async def test_an_async_turn_is_a_child_of_the_apps_current_span(desk, spans):
    guild = scripted(desk, ANSWER_STEP, "It is on its way back.")
    with trace.get_tracer("app").start_as_current_span("POST /ask") as request:
        reply = await guild.arun("Where is repair R-77?", expert="it")
    assert reply.text == "It is on its way back."
    root = named(spans.get_finished_spans(), "invoke_agent desk")
    assert root.parent is not None and root.parent.span_id == request.get_span_context().span_id


def guild_with_documents(tmp_path: Path, **extra) -> slmguild.Guild:
    docs = tmp_path / "docs"
    docs.mkdir(parents=True)
    (docs / "vpn.md").write_text("# VPN\n\nReset the SecureLink password at selfservice.acme.example.\n")
    config = GuildConfig.model_validate({
        "name": "orchestra", "knowledge": {"roots": [str(tmp_path)], "store": {"path": str(tmp_path / "store")}},
        "sessions": {"store": str(tmp_path / "sessions.sqlite")}, "answer": {"strategy": "generative"},
        "experts": {"it": {"description": "IT", "system_prompt": "You are IT.", "knowledge": {"sources": [str(docs)]},
                           "exemplars": ["how do I reset my vpn password", "the vpn does not connect"]},
                    "hr": {"description": "HR", "system_prompt": "You are HR.",
                           "exemplars": ["how many leave days do I have", "how long is parental leave"]}},
        "routing": {"default_threshold": 0.5}, **extra})
    guild = slmguild.Guild(config, knowledge=KnowledgeBase(config, embedder=FakeEmbedder()))
    guild.knowledge.ingest()
    return guild


def test_the_route_and_the_search_carry_scores_and_chunk_ids(tmp_path, spans):
    guild = guild_with_documents(tmp_path, telemetry={"enabled": True})
    guild.expert("it").model = ScriptedModel(replies=["Reset it at selfservice.acme.example [vpn.md]."])
    reply = guild.run("please reset my vpn password", session="work")
    finished = spans.get_finished_spans()
    assert tree(finished) == [("invoke_agent orchestra", None), ("route", "invoke_agent orchestra"),
                              ("invoke_agent it", "invoke_agent orchestra"), ("retrieval it", "invoke_agent it"),
                              ("chat smollm2-135m-instruct", "invoke_agent it")]
    route = named(finished, "route").attributes
    assert route["slmguild.route.expert"] == "it"
    assert {key: value for key, value in route.items() if key.startswith("slmguild.route.score.")} == {
        f"slmguild.route.score.{expert}": score for expert, score in reply.trace.route.scores.items()}
    assert "slmguild.route.query" not in route
    hits = reply.trace.retrieved
    assert hits
    search = named(finished, "retrieval it").attributes
    assert dict(search) == {
        "gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "it", "gen_ai.agent.name": "it",
        "gen_ai.conversation.id": "work", "slmguild.retrieval.count": len(hits),
        "slmguild.retrieval.chunk_ids": tuple(hit.chunk for hit in hits),
        "slmguild.retrieval.sources": tuple(hit.id for hit in hits),
        "slmguild.retrieval.scores": tuple(hit.score for hit in hits),
        "gen_ai.retrieval.documents": json.dumps([{"id": hit.chunk, "score": hit.score} for hit in hits])}


def test_a_multi_expert_turn_has_one_agent_span_per_part_and_tokens_on_the_answer(tmp_path, spans):
    guild = guild_with_documents(tmp_path, telemetry={"enabled": True})
    guild.expert("it").model = ScriptedModel(replies=["Reset it at selfservice.acme.example [vpn.md]."])
    guild.expert("hr").model = CountingModel(replies=["You have 25 days."])
    reply = guild.run("how do I reset my vpn password and how many leave days do I have?")
    assert reply.expert == "it+hr"
    finished = spans.get_finished_spans()
    root = named(finished, "invoke_agent orchestra")
    assert sorted(name for name, parent in tree(finished) if parent == "invoke_agent orchestra") == [
        "invoke_agent hr", "invoke_agent it", "route"]
    assert named(finished, "route").attributes["slmguild.route.plan"] == ("it", "hr")
    hr = named(finished, "invoke_agent hr")
    (answer,) = [span for span in finished if span.parent and span.parent.span_id == hr.context.span_id]
    assert answer.name == "chat smollm2-135m-instruct"
    assert {key: value for key, value in answer.attributes.items() if "token" in key or "engine" in key} == {
        "gen_ai.usage.input_tokens": 41, "gen_ai.usage.output_tokens": 7, "gen_ai.usage.cache_read.input_tokens": 32,
        "slmguild.engine.prompt_n": 9.0, "slmguild.engine.cache_n": 32.0, "slmguild.engine.prompt_ms": 40.0,
        "slmguild.engine.predicted_n": 7.0, "slmguild.engine.predicted_ms": 60.0}
    assert root.attributes["gen_ai.usage.input_tokens"] == 41  # the turn's total


def test_an_escalation_is_a_hop(tmp_path, spans):
    guild = guild_with_documents(tmp_path, telemetry={"enabled": True},
                                 escalation={"backend": "openai", "url": "http://unused.invalid/v1", "name": "big"})
    guild.expert("escalation").model = ScriptedModel(replies=["Ask a colleague."])
    guild.run("please reset my vpn password", escalate=True)
    finished = spans.get_finished_spans()
    assert [name for name, _ in tree(finished)] == [
        "invoke_agent orchestra", "route", "escalate", "invoke_agent escalation", "chat big"]
    hop = named(finished, "escalate").attributes
    assert (hop["slmguild.hop.kind"], hop["slmguild.hop.to"], hop["slmguild.hop.reason"]) == (
        "escalation", "escalation", "asked for by the user")
    chat = named(finished, "chat big")
    assert (chat.kind, chat.attributes["gen_ai.provider.name"]) == (trace.SpanKind.CLIENT, "openai")


def test_off_by_default_and_by_otel_sdk_disabled(tmp_path, spans, monkeypatch):
    guild = guild_with_documents(tmp_path)
    guild.expert("it").model = ScriptedModel(replies=["Reset it at selfservice.acme.example [vpn.md]."])
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # importing it now fails: it is not imported
    assert guild.run("please reset my vpn password").expert == "it"
    assert guild.turns.telemetry is None and spans.get_finished_spans() == ()

    off, on = TelemetryConfig(), TelemetryConfig(enabled=True)
    assert not telemetry_enabled(off) and telemetry_enabled(on) and not content_captured(on)
    monkeypatch.setenv("SLMGUILD_TELEMETRY", "1")
    assert telemetry_enabled(off)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not telemetry_enabled(on) and not telemetry_enabled(off)
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    guild = guild_with_documents(tmp_path / "on")  # on, but OpenTelemetry is missing: the turn fails before it runs
    guild.expert("it").model = model = ScriptedModel(replies=["Never asked."])
    with pytest.raises(MissingExtra, match=r"pip install 'slmguild\[otel\]'"):
        guild.run("please reset my vpn password")
    assert model.requests == []
