"""The library API on the example guild, with the real model."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage, HumanMessage

import slmguild
from slmguild import Done, Routed, Token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def guild(ingested_example):
    guild = slmguild.load_guild(ingested_example)
    guild.config_path = ingested_example  # for a variant of it that shares its knowledge store
    return guild


def test_experts_that_share_a_base_share_one_engine(guild):
    engines = {id(guild.expert(name).model.engine) for name in ("it", "hr", "finance", "fallback")}
    assert len(engines) == 1


def test_astream_routes_then_streams_then_finishes(guild):
    # The free answer streams the engine's tokens as they come (a checked one arrives whole).
    free = slmguild.Guild(
        slmguild.load_config(guild.config_path, {"answer": {"strategy": "generative"}}), knowledge=guild.knowledge
    )

    async def collect():
        return [event async for event in free.astream("How do I reset my VPN password?", expert="it")]

    events = asyncio.run(collect())
    assert events[0] == Routed(expert="it", reason="forced by the caller")
    tokens = [event for event in events if isinstance(event, Token)]
    assert len(tokens) > 3 and isinstance(events[-1], Done)
    reply = events[-1].reply
    assert reply.text == "".join(token.text for token in tokens).strip()
    assert reply.expert == "it" and reply.model == "embedded:smollm2-135m-instruct"
    generated = [token for token in tokens if not token.text.startswith("\n\nSources: ")]
    assert reply.usage["output_tokens"] >= len(generated)  # one engine token per event, at most
    assert reply.trace.first_token_s <= reply.trace.latency_s


# One question per expert from the example's QA file, answered as a user asks them (routed).
GROUNDED = [
    ("How long does my ACME ID password have to be?", [["14 characters", "14 chars"]]),
    ("How many days of paid vacation do I get per year?", [["27 working days", "27 days"]]),
    ("What is the hotel limit per night in Berlin?", [["160 EUR", "160"]]),
    ("When does the guest wifi password change?", [["Monday"]]),
]


def test_grounded_answers_of_the_real_model_state_the_facts_and_make_up_no_figure(guild):
    from slmguild.evaluation import ReferenceQuestion, ask

    answered = [ask(guild, ReferenceQuestion(question, "", keys)) for question, keys in GROUNDED]
    assert [item.unsupported_figures for item in answered] == [()] * len(GROUNDED)
    assert sum(item.correct for item in answered) >= 3, [item.answer for item in answered]
    assert all(item.trace.answer.outcome in ("checked", "quoted") for item in answered)


def test_run_without_an_expert_goes_to_the_fallback(guild):
    reply = guild.run("Tell me a fun fact about octopuses.")
    assert reply.expert == "fallback" and reply.text


def test_sync_stream_and_arun_agree_under_greedy_decoding(ingested_example):
    config = slmguild.load_config(ingested_example)
    config.defaults.generation.temperature = 0
    config.defaults.generation.max_tokens = 24
    guild = slmguild.Guild(config)
    streamed = [e for e in guild.stream("What is an expense report?", expert="finance")]
    assert streamed[-1].reply.text == asyncio.run(guild.arun("What is an expense report?", expert="finance")).text


def test_history_is_part_of_the_conversation(guild):
    history = [HumanMessage("My name is Zoltan."), AIMessage("Nice to meet you, Zoltan.")]
    messages = guild.expert("hr").messages("What is my name?", history)
    assert [m.type for m in messages] == ["system", "human", "ai", "human"]
    assert messages[0].content == guild.config.experts["hr"].system_prompt
    assert messages[1:3] == history and messages[3].content == "What is my name?"


def test_bad_requests_are_slmguild_errors(guild):
    with pytest.raises(slmguild.UnknownExpert, match="no expert 'legal'"):
        guild.run("hi", expert="legal")
    with pytest.raises(slmguild.SlmguildError, match="empty"):
        guild.run("   ")


def test_a_second_turn_reuses_the_experts_prompt_prefix(guild, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_DB", str(tmp_path / "acme.sqlite"))
    guild.expert("it").model.engine.stop()  # a fresh engine has nothing cached yet

    def tool_step(message):
        reply = guild.run(message, expert="it")
        return next(step.engine for step in reply.trace.steps if step.step == "tool_step" and step.engine)

    first = tool_step("What's the status of my ticket IT-1042?")
    second = tool_step("Can you check where ticket IT-1045 is at?")  # another turn, another session
    # The system prompt and the tools are evaluated once: the second turn starts from them.
    assert first["cache_n"] == 0
    assert second["cache_n"] > 100 and second["prompt_n"] < first["prompt_n"] - 100
