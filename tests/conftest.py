"""Shared fixtures: the real bundled model and the embedded engine that serves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from slmguild.config import load_config
from slmguild.errors import ModelUnavailable
from slmguild.knowledge import KnowledgeBase
from slmguild.serving.catalog import gguf_path
from slmguild.serving.engine import EmbeddedEngine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests run the real models; every other test must script them (the
    slmguild plugin blocks real model requests in tests that are not marked)."""
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker("allow_model_requests")


@pytest.fixture(scope="session")
def example_guild() -> Path:
    """The example guild's file: the demo and the test bed."""
    return Path(__file__).resolve().parents[1] / "examples" / "acme" / "guild.yaml"


@pytest.fixture(scope="session")
def ingested_example(example_guild: Path) -> Path:
    """The example guild with every expert's documents ingested (real embedder, local Qdrant)."""
    base = KnowledgeBase(load_config(example_guild))
    reports = base.ingest()
    # Another test may have ingested the same store already: then the documents are unchanged.
    assert all((report.added or report.updated or report.unchanged) and not report.skipped for report in reports)
    return example_guild


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF; the README's test command pulls it first."""
    try:
        return gguf_path("smollm2-135m-instruct")
    except ModelUnavailable as exc:
        pytest.fail(f"{exc} (the integration tests run the real model)")


@pytest.fixture(scope="session")
def engine(smollm2: Path) -> EmbeddedEngine:
    """One embedded engine for the whole session: starting it costs ~0.5 s."""
    engine = EmbeddedEngine(smollm2)
    yield engine
    engine.stop()


@pytest.fixture
def write_guild(tmp_path: Path):
    """Write a guild file from text and return its path."""

    def write(text: str, name: str = "guild.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
