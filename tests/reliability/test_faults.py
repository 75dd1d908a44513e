"""Faults of a remote model server (OpenAI-compatible or Ollama), injected by a local server
that fails on purpose (tests/reliability/faulty_server.py): 500s, a hang, a connection
dropped in the middle of an answer. Each ends the turn with a clear `BackendUnavailable`
after bounded retries; the session keeps every finished turn, and the next turn works
once the server is back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import slmguild
from slmguild.config import GuildConfig
from slmguild.errors import BackendUnavailable
from slmguild.knowledge import KnowledgeBase
from slmguild.testing import FakeEmbedder
from tests.reliability.faulty_server import FaultyServer

# The requests go to a real (if local and scripted) server through the real clients.
pytestmark = [pytest.mark.allow_model_requests, pytest.mark.parametrize("backend", ["openai", "ollama"])]


def one_expert_guild(tmp_path: Path, **model: Any) -> slmguild.Guild:
    """A guild of one IT expert whose model is `model`, sessions in SQLite under `tmp_path`."""
    config = GuildConfig.model_validate({
        "name": "faults",
        "defaults": model,
        "experts": {"it": {"description": "IT", "system_prompt": "You are IT support.",
                           "exemplars": ["reset my vpn password"]}},
        "sessions": {"store": str(tmp_path / "sessions.sqlite")},
        "knowledge": {"roots": [str(tmp_path)]},
        # Streamed token by token (a checked answer arrives whole): a fault can cut it mid-answer.
        "answer": {"strategy": "generative"},
    })
    return slmguild.Guild(config, knowledge=KnowledgeBase(config, embedder=FakeEmbedder()))


def remote_guild(tmp_path: Path, backend: str, server: FaultyServer, **model: Any) -> slmguild.Guild:
    """`one_expert_guild` on `backend` served by `server`; `model` adds to its spec."""
    return one_expert_guild(tmp_path, backend=backend, url=server.url(backend), name="big", **model)


def test_a_server_answering_500_is_retried_with_backoff_then_a_clear_error(tmp_path, backend):
    with FaultyServer(["500", "500", "500", "ok"]) as server:
        guild = remote_guild(tmp_path, backend, server)
        started = time.perf_counter()
        with pytest.raises(BackendUnavailable, match=r"failed \(HTTP 500, 3 attempts\): .*model crashed"):
            guild.run("reset my vpn password", expert="it")
        assert server.requests == 3 and time.perf_counter() - started > 0.5  # 2 retries, backing off
        assert guild.run("reset my vpn password", expert="it").text == "Recovered."  # the server is back


def test_a_server_that_hangs_times_out_after_each_bounded_attempt(tmp_path, backend):
    with FaultyServer(["hang"], hang_s=3) as server:
        guild = remote_guild(tmp_path, backend, server, timeout_s=0.5)
        with pytest.raises(BackendUnavailable, match=r"did not answer within 0.5 s \(3 attempts\)"):
            guild.run("reset my vpn password", expert="it")
        assert server.requests == 3


def test_a_server_dying_mid_answer_loses_only_that_turn(tmp_path, backend):
    with FaultyServer(["ok", "die", "ok"]) as server:
        guild = remote_guild(tmp_path, backend, server)
        assert guild.run("reset my vpn password", expert="it", session="alice").text == "Recovered."
        tokens = []
        with pytest.raises(BackendUnavailable, match="broke the connection in the middle of an answer"):
            for event in guild.stream("and my wifi?", expert="it", session="alice"):
                tokens.append(getattr(event, "text", ""))
        assert "Recov" in "".join(tokens)  # the answer had started streaming
        assert [turn.message for turn in guild.session("alice")["traces"]] == ["reset my vpn password"]
        assert guild.run("and my wifi?", expert="it", session="alice").text == "Recovered."
        assert [turn.message for turn in guild.session("alice")["traces"]] == [
            "reset my vpn password", "and my wifi?"]
