"""The `openai` and `ollama` backends against real servers on loopback.

`openai`: the embedded engine's own OpenAI-compatible HTTP endpoint (llama-server).
`ollama`: a local server that speaks Ollama's documented API (tests/ollama_server.py),
generating with the same engine.
"""

from __future__ import annotations

import functools
import operator
import socket

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from slmguild.cli import app
from slmguild.config import Generation, ModelSpec
from slmguild.errors import BackendUnavailable, ModelUnavailable
from slmguild.serving import backend_errors, chat_model, embeddings, list_models
from slmguild.serving.adapters import file_sha256
from slmguild.serving.ollama_backend import create_model, parse_modelfile
from tests.lora import write_random_lora
from tests.ollama_server import OllamaLikeServer

pytestmark = pytest.mark.integration


class Answer(BaseModel):
    city: str = Field(max_length=40)
    confident: bool


def _spec(backend: str, url: str, **fields) -> ModelSpec:
    return ModelSpec(backend=backend, url=url, generation=Generation(max_tokens=80), **fields)


@pytest.fixture(scope="module")
def ollama_server(engine):
    with OllamaLikeServer(engine) as server:
        yield server


def _closed_port_url(path: str = "") -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# -- openai ---------------------------------------------------------------------------


def test_openai_backend_chats_and_streams_with_the_engine_endpoint(engine):
    model = chat_model(_spec("openai", engine.url, name="smollm2"))
    reply = model.invoke([HumanMessage("What is the capital of Italy?")])
    assert reply.text.strip()
    assert reply.usage_metadata["output_tokens"] > 0
    chunks = list(model.stream([HumanMessage("Count to five.")]))
    assert len([c for c in chunks if c.text]) > 3
    assert functools.reduce(operator.add, chunks).text.strip()


def test_openai_backend_decodes_under_a_json_schema(engine):
    model = chat_model(_spec("openai", engine.url, name="smollm2"))
    structured = model.with_structured_output(Answer, method="json_schema")
    for _ in range(3):
        assert isinstance(structured.invoke("Which city is the capital of Spain?"), Answer)


def test_openai_backend_embeds_and_lists_models(engine, smollm2):
    spec = _spec("openai", engine.url, name="smollm2")
    vectors = embeddings(spec).embed_documents(["one", "two"])
    assert [len(v) for v in vectors] == [576, 576]
    assert str(smollm2) in list_models(spec)[0] or list_models(spec)


def test_openai_backend_unreachable_url_is_named(tmp_path):
    url = _closed_port_url("/v1")
    spec = _spec("openai", url, name="x")
    with (pytest.raises(BackendUnavailable, match=f"cannot reach the OpenAI-compatible server at {url}"),
          backend_errors(spec)):
        chat_model(spec).invoke("hi")


# -- ollama ---------------------------------------------------------------------------


def test_ollama_backend_chats_without_streaming(ollama_server):
    model = chat_model(_spec("ollama", ollama_server.url, name="smollm2-135m-instruct"))
    reply = model.invoke([HumanMessage("Say hello.")])
    assert reply.text.strip()
    method, path, body = ollama_server.requests[-1]
    assert (method, path, body["model"]) == ("POST", "/api/chat", "smollm2:135m")  # catalog → tag
    assert body["options"]["num_predict"] == 80


def test_ollama_backend_streams(ollama_server):
    model = chat_model(_spec("ollama", ollama_server.url, name="smollm2:135m"))
    chunks = list(model.stream("Count to five."))
    assert len([c for c in chunks if c.text]) > 3
    whole = functools.reduce(operator.add, chunks)
    assert whole.text.strip() and whole.usage_metadata["output_tokens"] > 0
    assert ollama_server.requests[-1][2]["stream"] is True


def test_ollama_backend_sends_the_json_schema_as_format(ollama_server):
    model = chat_model(_spec("ollama", ollama_server.url, name="smollm2:135m"))
    result = model.with_structured_output(Answer, method="json_schema").invoke("Capital of Spain?")
    assert isinstance(result, Answer)
    assert ollama_server.requests[-1][2]["format"]["required"] == ["city", "confident"]


def test_ollama_backend_embeds_and_lists_tags(ollama_server):
    spec = _spec("ollama", ollama_server.url, name="smollm2:135m")
    assert [len(v) for v in embeddings(spec).embed_documents(["a", "b"])] == [576, 576]
    assert "smollm2:135m" in list_models(spec)


def test_ollama_backend_creates_a_model_from_a_modelfile(ollama_server, tmp_path):
    adapter = tmp_path / "it-adapter.gguf"
    adapter.write_bytes(b"GGUF adapter bytes")
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(
        'FROM smollm2:135m\nADAPTER ./it-adapter.gguf\nTEMPLATE """{{ .System }}\n{{ .Prompt }}"""\n'
        'PARAMETER stop "<|im_end|>"\nPARAMETER temperature 0.2\nSYSTEM You are ACME IT.\n'
    )
    assert parse_modelfile(modelfile)["parameters"] == {"stop": ["<|im_end|>"], "temperature": 0.2}
    spec = _spec("ollama", ollama_server.url)
    create_model(spec, "acme-it", modelfile)
    created = ollama_server.models["acme-it"]
    assert created["from"] == "smollm2:135m"
    assert created["template"] == "{{ .System }}\n{{ .Prompt }}"
    assert list(created["adapters"]) == ["it-adapter.gguf"]
    assert "acme-it" in list_models(spec)


def test_models_pull_into_an_ollama_server(ollama_server):
    result = CliRunner().invoke(app, ["models", "pull", "smollm2-135m-instruct", "--backend", "ollama",
                                      "--url", ollama_server.url])
    assert result.exit_code == 0, result.output
    assert "pulled into the Ollama server at " + ollama_server.url in result.stdout
    method, path, body = ollama_server.requests[-1]
    assert (method, path, body["model"]) == ("POST", "/api/pull", "smollm2:135m")  # catalog name → tag
    assert "smollm2:135m" in list_models(_spec("ollama", ollama_server.url))


def test_ollama_backend_unknown_model_says_how_to_pull_it(ollama_server):
    spec = _spec("ollama", ollama_server.url, name="llama9:1t")
    with (pytest.raises(ModelUnavailable, match=r"no model 'llama9:1t': run `ollama pull llama9:1t`"),
          backend_errors(spec)):
        chat_model(spec).invoke("hi")


def test_ollama_backend_unreachable_url_is_named():
    url = _closed_port_url()
    spec = _spec("ollama", url, name="smollm2:135m")
    with pytest.raises(BackendUnavailable, match=f"cannot reach the ollama server at {url}"), backend_errors(spec):
        chat_model(spec).invoke("hi")


# -- knowledge embedded by a server -----------------------------------------------------


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_knowledge_is_embedded_by_a_server_with_the_same_code(backend, request, tmp_path):
    from slmguild.config import EmbedderSpec, GuildConfig, StoreConfig
    from slmguild.knowledge import KnowledgeBase

    url = request.getfixturevalue("ollama_server").url if backend == "ollama" else request.getfixturevalue("engine").url
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "wifi.md").write_text("# Wi-Fi\n\nVisitors use ACME-Guest with a voucher.\n")
    (tmp_path / "docs" / "vpn.md").write_text("# VPN\n\nReset the SecureLink password in the portal.\n")
    config = GuildConfig.model_validate(
        {"name": f"remote-{backend}", "experts": {"it": {
            "description": "IT", "system_prompt": "IT desk.",
            "knowledge": {"sources": [str(tmp_path / "docs")]}}},
         "knowledge": {"roots": [str(tmp_path)]}}
    )
    config.knowledge.embedder = EmbedderSpec(backend=backend, name="smollm2-135m-instruct", url=url)
    config.knowledge.store = StoreConfig(path=str(tmp_path / "store"))
    base = KnowledgeBase(config)
    (report,) = base.ingest()
    assert report.added == ["docs/vpn.md", "docs/wifi.md"] and base.dimension == 576
    hits = base.search("it", "SecureLink password reset", top_k=1)
    assert hits[0].chunk.source == "docs/vpn.md"


def test_a_finetuned_adapter_becomes_an_ollama_model_on_its_exact_base(ollama_server, smollm2, tmp_path):
    from slmguild.finetune import write_modelfile

    adapter = write_random_lora(tmp_path / "adapter.gguf", smollm2)
    modelfile = write_modelfile(tmp_path / "Modelfile", smollm2, adapter)
    create_model(_spec("ollama", ollama_server.url), "acme-vault", modelfile)
    created = ollama_server.models["acme-vault"]
    assert "from" not in created  # the base is the uploaded GGUF, not a server tag
    assert list(created["files"]) == [smollm2.name] and list(created["adapters"]) == ["adapter.gguf"]
    assert created["files"][smollm2.name] == f"sha256:{file_sha256(smollm2)}"
    assert created["template"].startswith("{{- range .Messages }}<|im_start|>{{ .Role }}")
    assert created["parameters"] == {"stop": ["<|im_end|>"]}
