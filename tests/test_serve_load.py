"""20 concurrent streaming clients against the real server and the real small model
(benchmarks/serve_load.py, which also reports the time to first token): every stream
completes, and every session holds exactly its own client's turn."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"


def test_twenty_streaming_clients_all_finish_in_their_own_sessions(ingested_example):
    spec = importlib.util.spec_from_file_location("serve_load", BENCHMARK)
    serve_load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_load)
    figures = serve_load.run(clients=20, max_tokens=32)
    assert figures["errors"] == []
    assert figures["completed"] == figures["in_own_session"] == figures["clients"] == 20
    assert figures["wall_s"] < 300  # bounded: queueing on two cores, not a hang
