"""One base, many adapters: chosen per request, never leaking into other experts."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from slmguild.config import Generation, ModelSpec
from slmguild.errors import ModelUnavailable
from slmguild.serving import EmbeddedChatModel, chat_model
from slmguild.serving.engine import EmbeddedEngine
from tests.lora import write_random_lora

pytestmark = pytest.mark.integration

QUESTION = [HumanMessage("What is the capital of France?")]
GREEDY = Generation(temperature=0, max_tokens=16)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, smollm2):
    folder = tmp_path_factory.mktemp("adapters")
    return [write_random_lora(folder / f"expert{seed}.gguf", smollm2, seed=seed) for seed in (1, 2)]


@pytest.fixture(scope="module")
def shared_engine(smollm2, adapters):
    engine = EmbeddedEngine(smollm2)
    yield engine
    engine.stop()


def answer(engine: EmbeddedEngine, adapter=None, scale: float = 1.0) -> str:
    model = EmbeddedChatModel(engine=engine, adapter=adapter, adapter_scale=scale, generation=GREEDY)
    return model.invoke(QUESTION).text


def test_each_expert_gets_its_own_adapter_and_the_base_stays_clean(shared_engine, adapters):
    first, second = adapters
    base = answer(shared_engine)
    with_first = answer(shared_engine, first)
    with_second = answer(shared_engine, second)
    assert len({base, with_first, with_second}) == 3  # three different models on one engine
    assert shared_engine.adapters == tuple(path.resolve() for path in adapters)  # loaded once
    assert answer(shared_engine) == base  # an adapter request leaves nothing behind
    assert answer(shared_engine, first, scale=0.0) == base
    assert answer(shared_engine, first) == with_first


def test_openai_backend_selects_a_llama_server_adapter_by_path(shared_engine, adapters):
    first = adapters[0]
    expected = answer(shared_engine, first)
    spec = ModelSpec(backend="openai", url=shared_engine.url, name="m", adapter=str(first), generation=GREEDY)
    assert chat_model(spec).invoke(QUESTION).text == expected


def test_openai_backend_refuses_an_adapter_the_server_has_not_loaded(shared_engine, tmp_path):
    spec = ModelSpec(backend="openai", url=shared_engine.url, name="m", adapter=str(tmp_path / "x.gguf"))
    with pytest.raises(ModelUnavailable, match="has not loaded the adapter"):
        chat_model(spec)


def test_an_adapter_registered_late_reloads_the_engine_with_all_adapters(smollm2, adapters):
    engine = EmbeddedEngine(smollm2)
    try:
        base = answer(engine)
        late = answer(engine, adapters[1])  # registers after the engine started
        assert late != base
        assert engine.adapters == (adapters[1].resolve(),)
        assert answer(engine) == base
    finally:
        engine.stop()
