"""The server as OpenAI's own client sees it: sampling fields reach the answer's model
(bounded by the guild file) and a cut answer finishes with `length`; `response_format`
constrains a generated answer or is refused; clients' tools, `n` and other fields that
cannot be served are refused in OpenAI's error shape; a call waiting for approval
finishes with `approval_required`; streams open with the role and every chunk has a
choice; `/v1/embeddings` gives the guild's embedder's vectors. Scripted models (exact)."""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

import slmguild
from slmguild.server import create_app
from slmguild.testing import FakeEmbedder, ScriptedModel
from tests.http_server import serving
from tests.test_approval import REQUEST, guild_file, ran, repairs, responder, scripted  # noqa: F401 (fixtures)
from tests.test_orchestrator import scripted_guild

QUESTION = "please reset my vpn password"


class LimitedModel(ScriptedModel):
    """A scripted model that, like an engine, generates at most `max_tokens` words (one
    token each) and reports its usage and finish reason on the last chunk."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        words = re.findall(r"\s*\S+", self._next(messages, kwargs).text)
        cut = words[: kwargs.get("max_tokens", len(words))]
        for index, word in enumerate(cut):
            last = index == len(cut) - 1
            usage = {"input_tokens": 10, "output_tokens": len(cut), "total_tokens": 10 + len(cut)} if last else None
            reason = {"finish_reason": "length" if len(cut) < len(words) else "stop"} if last else {}
            yield ChatGenerationChunk(message=AIMessageChunk(content=word, usage_metadata=usage,
                                                             response_metadata=reason))


@pytest.fixture
def guild(tmp_path):
    guild = scripted_guild(tmp_path, turns=10, answer="generative")
    guild.expert("it").model = LimitedModel(replies=["one two three four five six seven eight"] * 10)
    return guild


@pytest.fixture
def server(guild) -> Iterator[str]:
    with serving(create_app(guild)) as url:
        yield url


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def ask(url: str, **options: Any) -> Any:
    return client(url).chat.completions.create(
        **{"model": "orchestra/it", "messages": [{"role": "user", "content": QUESTION}], **options})


def test_sampling_fields_reach_the_answers_model_and_a_cut_answer_finishes_with_length(server, guild):
    model = guild.expert("it").model
    cut = ask(server, max_tokens=3, temperature=0.7, top_p=0.9, seed=11, stop=["END"])
    assert cut.choices[0].message.content == "one two three"
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
    assert {key: model.requests[-1][key] for key in ("max_tokens", "temperature", "top_p", "seed")} == {
        "max_tokens": 3, "temperature": 0.7, "top_p": 0.9, "seed": 11}

    whole = ask(server, max_completion_tokens=50)
    assert whole.choices[0].message.content == "one two three four five six seven eight"
    assert whole.choices[0].finish_reason == "stop"

    # The guild file bounds what a client may ask for (the expert's `generation.max_tokens`, 256 by default).
    ask(server, max_tokens=100_000)
    assert model.requests[-1]["max_tokens"] == 256
    ask(server)  # a request without sampling fields leaves the guild file's
    assert "max_tokens" not in model.requests[-1] and "temperature" not in model.requests[-1]

    streamed = list(ask(server, max_tokens=2, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "one two"
    assert streamed[-1].choices[0].finish_reason == "length"


def test_out_of_range_sampling_fields_are_400_naming_the_field(server):
    for field, value in (("temperature", 3), ("max_tokens", 0), ("top_p", 0), ("stop", ["a"] * 5)):
        with pytest.raises(openai.BadRequestError) as refused:
            ask(server, **{field: value})
        assert refused.value.param == field and refused.value.type == "invalid_request_error"


def test_json_schema_output_is_decoded_under_the_clients_schema(server, guild):
    schema = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
              "required": ["steps"]}
    guild.expert("it").model = ScriptedModel(replies=['{"steps": ["Open the portal", "Reset it"]}', '{"ok": true}'])
    reply = ask(server, response_format={"type": "json_schema", "json_schema": {"name": "steps", "schema": schema}})
    assert json.loads(reply.choices[0].message.content) == {"steps": ["Open the portal", "Reset it"]}
    assert guild.expert("it").model.requests[-1]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "steps", "schema": schema}}

    reply = ask(server, response_format={"type": "json_object"})
    assert json.loads(reply.choices[0].message.content) == {"ok": True}
    assert guild.expert("it").model.requests[-1]["response_format"] == {"type": "json_object"}


def test_json_output_is_refused_where_it_cannot_be_promised(server, tmp_path):
    json_object = {"type": "json_object"}
    with pytest.raises(openai.BadRequestError, match="needs one expert") as routed:
        ask(server, model="orchestra", response_format=json_object)  # a routed turn may be split or escalated
    assert routed.value.param == "response_format" and routed.value.code == "unsupported_value"

    checked = scripted_guild(tmp_path / "grounded", answer="grounded")
    with serving(create_app(checked)) as url, pytest.raises(openai.BadRequestError, match="checked sentences"):
        ask(url, response_format=json_object)
    with pytest.raises(openai.BadRequestError):
        ask(server, response_format={"type": "json_schema"})  # no schema named


@pytest.mark.parametrize(("options", "param"), [
    ({"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
])
def test_what_cannot_be_served_faithfully_is_refused_with_the_field_named(server, guild, options, param):
    asked = len(guild.expert("it").model.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        ask(server, **options)
    error = refused.value.body
    assert refused.value.status_code == 400 and set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["code"] in ("unsupported_parameter", "unsupported_value")
    assert len(guild.expert("it").model.requests) == asked  # no turn ran


def test_defaults_of_unserved_fields_are_accepted(server):
    reply = ask(server, n=1, tool_choice="none", presence_penalty=0, frequency_penalty=0, logprobs=False,
                stream_options=None, parallel_tool_calls=None)
    assert reply.choices[0].finish_reason == "stop"


def test_an_unknown_model_is_404_model_not_found(server):
    for model in ("gpt-4o", "orchestra/legal"):
        with pytest.raises(openai.NotFoundError) as missing:
            ask(server, model=model)
        assert missing.value.code == "model_not_found" and missing.value.param == "model"
        assert missing.value.type == "invalid_request_error"


def test_a_stream_opens_with_the_role_and_every_chunk_has_a_choice(server):
    chunks = list(ask(server, model="orchestra", stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(len(c.choices) == 1 and c.choices[0].index == 0 for c in chunks)
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    progress = [c for c in chunks if c.model_extra.get("slmguild")]
    assert next(c.model_extra["slmguild"]["event"] for c in progress) == "routed"
    assert all(c.choices[0].delta.content is None for c in progress[:-1])  # progress adds no text
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three four five six seven eight"
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1


@pytest.fixture
def desk(guild_file) -> Iterator[str]:  # noqa: F811
    with serving(create_app(scripted(guild_file, *[responder] * 10))) as url:
        yield url


def test_a_call_waiting_for_approval_finishes_with_approval_required(desk, repairs):  # noqa: F811
    chat = client(desk).chat.completions
    body = {"model": "desk/it", "messages": [{"role": "user", "content": REQUEST}]}
    paused = chat.create(**body, user="s1")
    assert paused.choices[0].finish_reason == "approval_required"
    pending = paused.model_extra["slmguild"]["pending"]
    assert pending["tool"] == "order_repair" and pending["arguments"]["summary"] == "Cracked screen"
    assert ran(repairs) == []

    approved = chat.create(**body, user="s1", extra_body={"slmguild": {"approve": True}})
    assert approved.choices[0].finish_reason == "stop" and len(ran(repairs)) == 1

    streamed = list(chat.create(**body, user="s2", stream=True))
    assert streamed[-1].choices[0].finish_reason == "approval_required"
    assert streamed[-1].model_extra["slmguild"]["pending"]["tool"] == "order_repair"

    with pytest.raises(openai.BadRequestError) as nothing_waits:  # the client's mistake: 400, not retried
        chat.create(**body, user="s3", extra_body={"slmguild": {"approve": True}})
    assert nothing_waits.value.code == "no_pending_call"


def test_embeddings_are_the_guilds_embedders(server):
    embeddings = client(server).embeddings
    fake = FakeEmbedder()
    one = embeddings.create(model="orchestra", input="vpn password")
    assert one.object == "list" and one.model == "orchestra" and len(one.data) == 1
    assert one.data[0].embedding == pytest.approx(fake.embed_query("vpn password"))
    many = embeddings.create(model="orchestra", input=["vpn", "leave days"], encoding_format="base64")
    assert [item.index for item in many.data] == [0, 1]
    decoded = [list(struct.unpack(f"<{len(v)}f", base64.b64decode(item.embedding)))  # little-endian float32s
               for item, v in zip(many.data, fake.embed_documents(["vpn", "leave days"]), strict=True)]
    assert decoded == [pytest.approx(v) for v in fake.embed_documents(["vpn", "leave days"])]
    assert embeddings.create(model="orchestra", input="x", dimensions=64).data[0].embedding


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "text-embedding-3-small", "input": "x"}, 404, "model"),
    ({"model": "orchestra", "input": [101, 102]}, 400, "input"),
    ({"model": "orchestra", "input": ""}, 400, "input"),
    ({"model": "orchestra", "input": []}, 400, "input"),
    ({"model": "orchestra", "input": "x", "dimensions": 8}, 400, "dimensions"),
    ({"model": "orchestra", "input": 7}, 400, "input"),
])
def test_bad_embedding_requests_are_4xx_naming_the_field(server, body, status, param):
    answer = httpx.post(f"{server}/v1/embeddings", json=body)
    assert answer.status_code == status and answer.json()["error"]["param"] == param


TINY_GUILD = """\
name: tiny
sessions: {{store: {store}}}
answer: {{strategy: generative}}
experts:
  it:
    description: the it expert
    system_prompt: You are a helpful IT assistant.
    exemplars: {{vpn: ["how do I reset my vpn password"]}}
"""


@pytest.mark.integration
def test_the_real_model_is_cut_at_max_tokens_and_decodes_under_a_schema(write_guild, tmp_path):
    guild = slmguild.load_guild(write_guild(TINY_GUILD.format(store=tmp_path / "sessions.sqlite")))
    with serving(create_app(guild)) as url:
        chat = client(url).chat.completions
        messages = [{"role": "user", "content": "How do I reset my VPN password?"}]
        cut = chat.create(model="tiny/it", messages=messages, max_tokens=5)
        assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 5
        schema = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 40}},
                  "required": ["answer"], "additionalProperties": False}
        # The schema bounds the whole reply (40 characters, escapes and llama.cpp's at most ~22
        # characters of whitespace between tokens included, ~330 characters): 400 tokens
        # cannot cut it, so "stop" is certain (60 tokens was cut when the model padded).
        shaped = chat.create(model="tiny/it", messages=messages, max_tokens=400, response_format={
            "type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
        assert shaped.choices[0].finish_reason == "stop"
        assert set(json.loads(shaped.choices[0].message.content)) == {"answer"}
        streamed = list(chat.create(model="tiny/it", messages=messages, max_tokens=4, stream=True))
        assert streamed[0].choices[0].delta.role == "assistant" and streamed[-1].choices[0].finish_reason == "length"
