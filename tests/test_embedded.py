"""The embedded engine with the real bundled model: streaming, JSON schema, embeddings."""

from __future__ import annotations

import asyncio
import functools
import operator
import socket

import gguf
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from slmguild.config import EngineConfig, Generation
from slmguild.errors import ModelUnavailable
from slmguild.serving import EmbeddedChatModel, EmbeddedEmbeddings
from slmguild.serving.engine import EmbeddedEngine, EngineError
from tests.lora import write_random_lora

pytestmark = pytest.mark.integration


class Ticket(BaseModel):
    """What the model must fill in, under constrained decoding."""

    summary: str = Field(min_length=1, max_length=60)  # bounded: the JSON must fit in max_tokens
    priority: str = Field(pattern="^(low|normal|high|urgent)$")
    laptop_affected: bool
    estimated_hours: int = Field(ge=0, le=1000)


def test_stream_yields_a_non_empty_answer_with_usage(engine):
    model = EmbeddedChatModel(engine=engine, generation=Generation(max_tokens=40))
    chunks = list(model.stream([HumanMessage("What is the capital of France?")]))
    text = "".join(chunk.text for chunk in chunks)
    assert len(chunks) > 3  # streamed token by token, not in one piece
    assert text.strip()
    whole = functools.reduce(operator.add, chunks)
    assert whole.text == text
    assert whole.usage_metadata["output_tokens"] > 0
    assert whole.response_metadata["finish_reason"] in ("stop", "length")


def test_async_stream_matches_the_sync_answer_under_greedy_decoding(engine):
    model = EmbeddedChatModel(engine=engine, generation=Generation(temperature=0, max_tokens=30))
    question = [HumanMessage("Name three colours.")]

    async def collect() -> str:
        return "".join([chunk.text async for chunk in model.astream(question)])

    assert asyncio.run(collect()) == model.invoke(question).text


def test_json_schema_output_validates_twenty_times_out_of_twenty(engine):
    model = EmbeddedChatModel(engine=engine, generation=Generation(temperature=0.8, max_tokens=150))
    structured = model.with_structured_output(Ticket, method="json_schema")
    prompts = [
        f"Fill in an IT ticket for this complaint: {complaint}"
        for complaint in [
            "my laptop will not boot", "VPN drops every hour", "printer on floor 3 jams",
            "I forgot my password", "Outlook is slow", "need a second monitor",
            "Wi-Fi in room B12 is down", "my badge does not open the door", "screen flickers",
            "cannot install Python", "keyboard spilled coffee", "Teams has no sound",
            "disk is full", "MFA app lost with my old phone", "laptop stolen at the airport",
            "need access to the finance share", "battery swells", "VPN certificate expired",
            "email bounces", "new hire needs an account",
        ]
    ]
    tickets = [structured.invoke([SystemMessage("Answer in JSON."), HumanMessage(p)]) for p in prompts]
    assert len(tickets) == 20
    assert all(isinstance(ticket, Ticket) for ticket in tickets)  # parsed AND validated


def test_json_schema_as_a_dict_returns_a_dict(engine):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"],
    }
    # Greedy, with room: a sampled run capped at 20 tokens once came back without `answer`
    # (an output cut short is parsed as a partial object; the grammar allows whitespace).
    model = EmbeddedChatModel(engine=engine, generation=Generation(max_tokens=64, temperature=0))
    result = model.with_structured_output(schema, method="json_schema").invoke("Is water wet?")
    assert result["answer"] in ("yes", "no")


def test_embeddings_have_the_models_dimension(engine, smollm2):
    reader = gguf.GGUFReader(smollm2)
    field = reader.fields["llama.embedding_length"]
    dimension = int(field.parts[field.data[0]][0])
    embeddings = EmbeddedEmbeddings(engine)
    vectors = embeddings.embed_documents(["reset my VPN password", "hotel limit in Berlin"])
    assert len(vectors) == 2
    assert all(len(vector) == dimension == 576 for vector in vectors)
    assert len(embeddings.embed_query("hello")) == dimension
    assert vectors[0] != vectors[1]


def test_lora_field_names_every_loaded_adapter(tmp_path, smollm2):
    first = write_random_lora(tmp_path / "it.gguf", smollm2, seed=1)
    second = write_random_lora(tmp_path / "hr.gguf", smollm2, seed=2)
    engine = EmbeddedEngine(smollm2)
    engine.register_adapter(first)
    engine.register_adapter(second)
    engine.register_adapter(first)  # registering twice loads once
    assert engine.lora_scales(second, 0.5) == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.5}]
    assert engine.lora_scales(None) == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.0}]
    with pytest.raises(ModelUnavailable, match="adapter file not found"):
        engine.register_adapter(tmp_path / "missing.gguf")
    (tmp_path / "notes.gguf").write_text("not a GGUF file")
    with pytest.raises(ModelUnavailable, match="is not a readable GGUF file"):
        engine.register_adapter(tmp_path / "notes.gguf")


def test_a_taken_port_makes_the_engine_pick_another(smollm2):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = EmbeddedEngine(smollm2, EngineConfig(port=port))
        try:
            assert engine.url.startswith("http://127.0.0.1:")
            assert not engine.url.startswith(f"http://127.0.0.1:{port}/")
            assert engine.chat({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
        finally:
            engine.stop()


def test_missing_or_broken_model_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelUnavailable, match="model file not found"):
        EmbeddedEngine(tmp_path / "nope.gguf").chat({"messages": []})
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    with pytest.raises(ModelUnavailable, match="could not load .*broken.gguf"):
        EmbeddedEngine(broken).chat({"messages": []})


def test_a_prompt_longer_than_the_context_is_an_engine_error(smollm2):
    engine = EmbeddedEngine(smollm2, EngineConfig(n_ctx=256))
    try:
        with pytest.raises(EngineError, match="context"):
            engine.chat({"messages": [{"role": "user", "content": "word " * 600}], "max_tokens": 5})
    finally:
        engine.stop()
