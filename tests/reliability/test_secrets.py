"""Secrets: an API key that the guild file names by its environment variable (`api_key_env`)
is sent to the server, and appears nowhere else: not in any log record at DEBUG level
(the HTTP clients' included), the reply's trace, the saved session, an error message or
the configuration as dumped."""

from __future__ import annotations

import logging

import pytest

from slmguild.errors import BackendUnavailable
from tests.reliability.faulty_server import FaultyServer
from tests.reliability.test_faults import remote_guild

pytestmark = pytest.mark.allow_model_requests

SECRET = "sk-slmguild-" + "7f3a9c" * 6


def test_an_api_key_from_the_environment_never_reaches_logs_traces_or_errors(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ACME_LLM_KEY", SECRET)
    caplog.set_level(logging.DEBUG)  # every logger, down to the clients' request logs
    with FaultyServer(["ok", "500"]) as server:
        guild = remote_guild(tmp_path, "openai", server, api_key_env="ACME_LLM_KEY")
        reply = guild.run("reset my vpn password", expert="it", session="s")
        with pytest.raises(BackendUnavailable) as failed:
            guild.run("and my wifi?", expert="it", session="s")
    assert server.authorizations[0] == f"Bearer {SECRET}"  # the key did its job
    assert any(record.levelno == logging.DEBUG for record in caplog.records)  # the clients did log

    seen = {
        "logs": caplog.text,
        "trace": reply.trace.model_dump_json(),
        "session": repr(guild.session("s")),
        "error": str(failed.value),
        "config": guild.config.model_dump_json(),
    }
    assert {where: SECRET in text for where, text in seen.items()} == dict.fromkeys(seen, False)
