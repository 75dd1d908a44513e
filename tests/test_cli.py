"""The `slmguild` command, driven as a user would: real model, real files, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import slmguild
from slmguild.cli import app

runner = CliRunner()

MINIMAL = """\
name: mini
experts:
  it:
    description: IT things
    system_prompt: You are the IT help desk. Answer in one sentence.
"""


def slmguild_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a child process (exit code, stderr, no traceback)."""
    return subprocess.run(
        [sys.executable, "-c", "from slmguild.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,  # the exit code is what the tests read
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def copy_of_the_data_directory(tmp_path) -> dict[str, str]:
    """A child process's own copy of the test session's data directory: Qdrant's local
    mode lets one process open a store, and this one may hold it."""
    copy = tmp_path / "home"
    shutil.copytree(os.environ["SLMGUILD_HOME"], copy)
    return {"SLMGUILD_HOME": str(copy)}


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"slmguild {slmguild.__version__}"
    for command in (["--help"], ["ask", "--help"], ["models", "--help"], ["config", "check", "--help"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0 and "Usage" in result.stdout


@pytest.mark.integration
def test_ask_streams_an_answer_from_the_chosen_expert(ingested_example, tmp_path):
    result = slmguild_cli("ask", "--guild", str(ingested_example), "--expert", "it", "--trace", "--sources",
                          "How do I reset my VPN password?", env=copy_of_the_data_directory(tmp_path))
    assert result.returncode == 0, result.stderr
    answer, sources = result.stdout.split("\nSources:\n")
    assert len(answer.split()) >= 5 and "[vpn-password-reset]" in answer  # the lead cites its document
    assert sources.startswith("- [") and "vpn-password-reset" in sources  # the passages it rests on
    assert "[it]" in result.stderr
    assert "route: it (forced by the caller)" in result.stderr
    assert "model: embedded:smollm2-135m-instruct" in result.stderr


@pytest.mark.integration
def test_ask_json_reports_expert_model_and_usage(write_guild):
    result = runner.invoke(app, ["ask", "--guild", str(write_guild(MINIMAL)), "--json", "Hello!"])
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    assert reply["text"] and reply["expert"] == "fallback"
    assert reply["usage"]["output_tokens"] > 0
    assert reply["trace"]["route"]["reason"] == "no expert owns it: no expert has routing exemplars"


@pytest.mark.integration
def test_chat_keeps_the_conversation_after_an_error(write_guild):
    script = "/help\n/experts\n/expert nobody\nhello\n/expert it\nMy laptop is slow.\n/new\n/quit\n"
    result = runner.invoke(app, ["chat", "--guild", str(write_guild(MINIMAL)), "--session", "repl"], input=script)
    assert result.exit_code == 0, result.output
    assert "/escalate [QUESTION]" in result.output and "it: IT things" in result.output
    assert "has no expert 'nobody'" in result.output
    assert "[it]" in result.output  # the session went on after the error
    assert "new session chat-" in result.output
    resumed = runner.invoke(app, ["chat", "--guild", str(write_guild(MINIMAL)), "--session", "repl"], input="/quit\n")
    assert "session repl, resuming 1 turns" in " ".join(resumed.output.split())


def _assert_short_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [n for n, line in enumerate(lines) if line.startswith("error:")]
    assert errors and len(lines) - errors[0] <= 3, result.stderr  # message + --debug hint
    for fragment in fragments:
        assert fragment in " ".join(result.stderr.split()), result.stderr


def test_missing_model_prints_the_install_command(write_guild, tmp_path):
    result = slmguild_cli(
        "ask", "--guild", str(write_guild(MINIMAL)), "hi", env={"SLMGUILD_MODELS": str(tmp_path / "empty")}
    )
    _assert_short_error(result, "is not installed", "slmguild models pull smollm2-135m-instruct")


def test_malformed_yaml_names_file_and_line(write_guild):
    path = write_guild(MINIMAL + "    tools: [unclosed\n")
    _assert_short_error(slmguild_cli("config", "check", str(path)), f"{path}:7", "invalid YAML")


def test_unknown_expert_lists_the_experts(write_guild):
    result = slmguild_cli("ask", "--guild", str(write_guild(MINIMAL)), "--expert", "legal", "hi")
    _assert_short_error(result, "has no expert 'legal'", "it has: it, fallback")


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_unreachable_server_names_the_url(write_guild, backend):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    guild = write_guild(MINIMAL + f"defaults: {{backend: {backend}, name: tiny, url: '{url}'}}\n")
    result = slmguild_cli("ask", "--guild", str(guild), "hi")
    _assert_short_error(result, "cannot reach the", url)


def test_debug_shows_the_traceback(write_guild):
    result = slmguild_cli("--debug", "ask", "--guild", str(write_guild(MINIMAL)), "--expert", "legal", "hi")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_config_check_summarizes_the_example(example_guild):
    result = runner.invoke(app, ["config", "check", str(example_guild)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and "3 experts" in result.stdout
    for expert in ("it", "hr", "finance", "fallback"):
        assert expert in result.stdout


def test_config_schema_is_json():
    result = runner.invoke(app, ["config", "schema"])
    assert json.loads(result.stdout)["title"] == "GuildConfig"


def test_models_list_and_path(smollm2):
    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0 and "smollm2-135m-instruct" in listing.stdout
    path = runner.invoke(app, ["models", "path", "smollm2-135m-instruct"])
    assert path.stdout.strip() == str(smollm2)


REPAIR_DESK = """\
name: desk
toolboxes: [repair_tools.py]
answer: {strategy: generative}
experts:
  it:
    description: IT things
    system_prompt: You are the IT help desk. Answer in one sentence.
    exemplars: ["how do I reset my password", "my laptop is slow, what can I do"]
    tools: [order_repair]
"""
REPAIR_TOOLS = '''\
import os
import slmguild

@slmguild.tool(changes=True, examples=[("Please order a repair for my screen", {"summary": "Broken screen"}),
                                       ("my keyboard is broken, get it repaired", {"summary": "Broken keyboard"})])
def order_repair(summary: str) -> str:
    """Order a repair of a device.

    Args:
        summary: What is broken, in one sentence.
    """
    open(os.environ["REPAIRS_LOG"], "a").write(summary + "\\n")
    return "repair R-77 ordered"
'''


@pytest.mark.integration
def test_chat_and_ask_show_a_call_that_waits_and_run_it_only_when_approved(write_guild, tmp_path, monkeypatch):
    """The real model on a guild whose one tool changes something: the user is asked first."""
    (tmp_path / "repair_tools.py").write_text(REPAIR_TOOLS)
    monkeypatch.setenv("REPAIRS_LOG", str(log := tmp_path / "repairs.log"))
    guild = str(write_guild(REPAIR_DESK))
    request = "Please order a repair: my laptop screen is cracked.\n"
    chat = runner.invoke(app, ["chat", "-g", guild, "--session", "c"], input=request + "n\n/quit\n")
    assert chat.exit_code == 0, chat.output
    assert "This needs your approval: it would run order_repair(summary=" in chat.output
    assert "approve? [y]es / [e]dit / [n]o" in chat.output and "Not done: I did not run order_repair(" in chat.output
    assert not log.exists()  # refused: nothing ran

    asked = runner.invoke(app, ["ask", "-g", guild, "--session", "a", request.strip()])
    assert asked.exit_code == 0 and "waiting for approval: order_repair(" in asked.output
    assert f"slmguild ask -g {guild} --session a --approve | --refuse | --edit JSON" in " ".join(asked.output.split())
    approved = runner.invoke(app, ["ask", "-g", guild, "--session", "a", "--edit", '{"summary": "Cracked screen"}'])
    assert approved.exit_code == 0, approved.output
    assert log.read_text() == "Cracked screen\n"  # the edited call ran, once
    shown = runner.invoke(app, ["sessions", "show", "a", "-g", guild])
    assert "order_repair: edited at 20" in shown.output  # the session records the answer and when
    again = runner.invoke(app, ["ask", "-g", guild, "--session", "a", "--approve"])
    assert again.exit_code == 2 and "no call waiting for approval" in again.output


def test_keys_are_made_listed_and_revoked_and_serve_wants_them_beyond_loopback(tmp_path, write_guild):
    store = str(tmp_path / "keys.sqlite")
    made = runner.invoke(app, ["keys", "add", "alice", "--keys", store])
    key = made.stdout.strip()
    assert made.exit_code == 0 and key.startswith("slm_") and "not shown again" in made.stderr
    assert runner.invoke(app, ["keys", "add", "root", "--admin", "--keys", store]).exit_code == 0
    listed = runner.invoke(app, ["keys", "list", "--keys", store]).stdout
    assert "alice  user" in listed and "root  admin" in listed and key not in listed
    assert key not in (tmp_path / "keys.sqlite").read_bytes().decode("latin-1")  # stored hashed
    assert "revoked 1 key of alice" in runner.invoke(app, ["keys", "revoke", "alice", "--keys", store]).stdout
    assert "revoked" in runner.invoke(app, ["keys", "list", "--keys", store]).stdout.splitlines()[0]
    again = slmguild_cli("keys", "revoke", "alice", "--keys", store)
    _assert_short_error(again, "no live key", "alice")

    refused = slmguild_cli("serve", "--guild", str(write_guild(MINIMAL)), "--host", "0.0.0.0",
                           "--keys", str(tmp_path / "none.sqlite"), env={"SLMGUILD_API_KEY": ""})
    _assert_short_error(refused, "lets other machines in", "slmguild keys add")
