"""Approval before side effects: a call of a tool that changes something stops the turn,
and runs only once the user approves it (scripted models, real tools, a real SQLite store)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import httpx
import pytest

import slmguild
from slmguild import Done, SlmguildError, Token, ToolCall
from slmguild.server.app import create_app
from slmguild.testing import ScriptedModel
from slmguild.testing.steps import ANSWER_STEP, tool_step
from tests.http_server import serving
from tests.postgres import postgres_url  # noqa: F401  (fixture)

TOOLBOX = '''\
import json, os
import slmguild

def _log(name, **arguments):
    with open(os.environ["REPAIRS_LOG"], "a") as log:
        log.write(json.dumps([name, arguments]) + "\\n")

@slmguild.tool(changes=True, examples=[("Please order a repair for my screen", {"summary": "Broken screen"})])
def order_repair(summary: str) -> str:
    """Order a repair of a device.

    Args:
        summary: What is broken, in one sentence.
    """
    _log("order_repair", summary=summary)
    return "repair R-77 ordered"
'''


@pytest.fixture
def repairs(tmp_path, monkeypatch) -> Path:
    """The log each real run of `order_repair` writes a line to: what really ran."""
    log = tmp_path / "repairs.log"
    monkeypatch.setenv("REPAIRS_LOG", str(log))
    return log


def ran(log: Path) -> list:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def guild_file(write_guild, tmp_path) -> Path:
    (tmp_path / "repair_tools.py").write_text(TOOLBOX)
    return write_guild(textwrap.dedent(f"""\
        name: desk
        toolboxes: [repair_tools.py]
        sessions: {{store: {tmp_path / "sessions.sqlite"}}}
        answer: {{strategy: generative}}
        experts:
          it:
            description: IT
            system_prompt: You are the IT help desk.
            tools: [order_repair]
        """))


def scripted(guild_file: Path, *replies, **overrides) -> slmguild.Guild:
    guild = slmguild.load_guild(guild_file)
    for key, value in overrides.items():
        setattr(guild.config.experts["it"], key, value)
    if overrides:
        guild = slmguild.Guild(guild.config)
    guild.expert("it").model = ScriptedModel(replies=list(replies))
    return guild


REQUEST = "Please order a repair: my screen is cracked."


def test_a_question_never_runs_the_tool_even_when_the_model_calls_it(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Phishing"), "Forward it to security.")
    reply = guild.run("How do I report a phishing e-mail?", expert="it", session="s")
    assert reply.pending is None and reply.text == "Forward it to security."
    assert ran(repairs) == [] and reply.trace.tools == []


def test_a_request_to_act_waits_for_approval_then_runs(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"), "Repair R-77 is ordered.")
    events = list(guild.stream(REQUEST, expert="it", session="s"))
    paused = events[-1].reply
    assert paused.pending == slmguild.PendingCall("it", "order_repair", {"summary": "Cracked screen"})
    assert paused.text.startswith("This needs your approval: it would run order_repair(summary='Cracked screen')")
    assert [e.text for e in events if isinstance(e, Token)] == [paused.text]
    assert ran(repairs) == [] and not [e for e in events if isinstance(e, ToolCall)]
    assert guild.session("s")["traces"] == []  # the turn is not over

    events = list(guild.resume_stream("s", approve=True))
    reply = events[-1].reply
    assert isinstance(events[-1], Done) and reply.pending is None and reply.text == "Repair R-77 is ordered."
    assert ran(repairs) == [["order_repair", {"summary": "Cracked screen"}]]
    (call,) = reply.trace.tools
    assert (call.status, call.approval) == ("ok", "approved")
    (saved,) = guild.session("s")["traces"]
    assert saved.message == REQUEST and saved.text == reply.text
    with pytest.raises(SlmguildError, match="no call waiting for approval"):
        guild.resume("s", approve=True)


def test_a_refused_call_never_runs_and_the_answer_says_what_was_not_done(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"))
    assert guild.run(REQUEST, expert="it", session="s").pending is not None
    reply = guild.resume("s", approve=False)
    assert ran(repairs) == []
    assert reply.text == ("Not done: I did not run order_repair(summary='Cracked screen'), "
                          "because you did not approve it.")
    (call,) = reply.trace.tools
    assert (call.status, call.approval) == ("declined", "refused")


def test_edited_arguments_run_instead_and_are_validated(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Screen"), "Ordered.")
    guild.run(REQUEST, expert="it", session="s")
    reply = guild.resume("s", approve={"summary": "Cracked screen on laptop L-12"})
    assert ran(repairs) == [["order_repair", {"summary": "Cracked screen on laptop L-12"}]]
    assert reply.trace.tools[0].approval == "edited"
    guild = scripted(guild_file, tool_step("order_repair", summary="Screen"), "Sorry.")
    guild.run(REQUEST, expert="it", session="t")
    reply = guild.resume("t", approve={"summary": 42, "extra": True})
    assert reply.trace.tools[0].status == "invalid" and len(ran(repairs)) == 1


def test_a_new_message_abandons_the_waiting_call(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"),
                     ANSWER_STEP, "Restart it.")
    guild.run(REQUEST, expert="it", session="s")
    reply = guild.run("My laptop is slow, what can I do?", expert="it", session="s")
    assert ran(repairs) == [] and reply.text == "Restart it."
    assert reply.trace.notice == ("order_repair(summary='Cracked screen') waited for approval "
                                     "and was not run: you moved on")
    abandoned, answered = guild.session("s")["traces"]
    assert abandoned.message == REQUEST and abandoned.text.startswith("Not done:")
    assert abandoned.tools[0].approval == "abandoned"
    assert answered.message == "My laptop is slow, what can I do?"


def test_a_turn_without_a_session_waits_in_memory_until_resumed(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"), "Ordered.")
    paused = guild.run(REQUEST, expert="it")
    assert paused.pending is not None and paused.session.startswith("turn-")
    assert guild.resume(paused.session, approve=True).text == "Ordered."
    assert len(ran(repairs)) == 1
    assert guild.sessions() == []  # nothing was written to the session store


def test_auto_approve_lets_automation_run_the_tool(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"), ANSWER_STEP, "Ordered.",
                     auto_approve=["order_repair"])
    reply = guild.run(REQUEST, expert="it")
    assert reply.pending is None and reply.text == "Ordered." and len(ran(repairs)) == 1
    with pytest.raises(slmguild.ConfigError, match="auto_approve names tools the expert does not have: nope"):
        scripted(guild_file, auto_approve=["nope"])


RACES = 20  # per test: a lost race shows within a few tries (it did in 6 of 6 before the fix)
LATER = "My laptop is slow, what can I do?"


def responder(messages, options) -> str:
    """The model of a race, whatever order its requests come in: a step for the repair
    request calls the tool, any other step answers, and an answer is "Done."."""
    if "response_format" not in options:
        return "Done."
    asked = [m.text for m in messages if m.type == "human"][-1]
    return tool_step("order_repair", summary="Cracked screen") if asked == REQUEST else ANSWER_STEP


def race(*calls):
    """Run `calls` at the same moment in threads; each one's result or exception."""
    start, outcomes = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        start.wait()
        try:
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 — the outcome under test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("named", [True, False], ids=["named session", "generated session"])
def test_two_answers_at_once_run_the_call_exactly_once(guild_file, repairs, named):
    guild = scripted(guild_file, *[responder] * (3 * RACES))
    for attempt in range(RACES):
        paused = guild.run(REQUEST, expert="it", session=f"s{attempt}" if named else None)
        answers = race(*[lambda paused=paused: guild.resume(paused.session, approve=True)] * 2)
        assert sorted(type(answer).__name__ for answer in answers) == ["NoPendingCall", "Reply"]
        assert len(ran(repairs)) == attempt + 1
        (reply,) = [answer for answer in answers if isinstance(answer, slmguild.Reply)]
        assert reply.trace.tools[0].approval == "approved"
    assert len(guild.turns._session_locks) == 0  # no session's lock outlives its turns


@pytest.mark.parametrize("named", [True, False], ids=["named session", "generated session"])
def test_an_answer_racing_a_new_message_has_one_outcome_and_the_trace_says_which(guild_file, repairs, named):
    guild = scripted(guild_file, *[responder] * (4 * RACES))
    runs = 0
    for attempt in range(RACES):
        paused = guild.run(REQUEST, expert="it", session=f"s{attempt}" if named else None)
        answer, later = race(lambda paused=paused: guild.resume(paused.session, approve=True),
                             lambda paused=paused: guild.run(LATER, expert="it", session=paused.session))
        assert isinstance(later, slmguild.Reply)
        if isinstance(answer, slmguild.Reply):  # the approval came first: the call ran, then a new turn
            runs += 1
            assert answer.trace.tools[0].approval == "approved" and later.trace.notice is None
        else:  # the message came first: the call was abandoned unrun, and the approval found nothing
            assert isinstance(answer, slmguild.NoPendingCall)
            assert later.trace.notice.endswith("waited for approval and was not run: you moved on")
        assert len(ran(repairs)) == runs
        if named:
            recorded = [t.tools[0].approval for t in guild.session(paused.session)["traces"] if t.tools]
            assert recorded == ["approved" if isinstance(answer, slmguild.Reply) else "abandoned"]


def test_two_processes_answering_one_call_at_once_run_it_once(guild_file, repairs, postgres_url):  # noqa: F811
    """Two guilds on one PostgreSQL store, as two server processes are: each has its own
    in-process locks, so only the store's advisory lock stands between their answers."""
    guilds = []
    for _ in range(2):
        guild = slmguild.load_guild(guild_file)
        guild.config.sessions.store = postgres_url
        guild.expert("it").model = ScriptedModel(replies=[responder] * (2 * RACES))
        guilds.append(guild)
    first, second = guilds
    run_id = uuid.uuid4().hex[:8]  # the store outlives this test
    for attempt in range(RACES // 2):
        session = f"pg-{run_id}-{attempt}"
        first.run(REQUEST, expert="it", session=session)
        answers = race(lambda session=session: first.resume(session, approve=True),
                       lambda session=session: second.resume(session, approve=True))
        assert sorted(type(answer).__name__ for answer in answers) == ["NoPendingCall", "Reply"]
        assert len(ran(repairs)) == attempt + 1


RESUME_ELSEWHERE = """\
import json, sys
import slmguild
from slmguild.testing import ScriptedModel
guild = slmguild.load_guild(sys.argv[1])
guild.expert("it").model = ScriptedModel(replies=["Repair R-77 is ordered."])
reply = guild.resume("s", approve=True)
print(json.dumps({"text": reply.text, "tools": [call.model_dump() for call in reply.trace.tools]}))
"""


def test_a_waiting_call_is_approved_from_a_fresh_process(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"))
    guild.run(REQUEST, expert="it", session="s")
    del guild  # the session is saved; another process loads the guild again and resumes it
    done = subprocess.run([sys.executable, "-c", RESUME_ELSEWHERE, str(guild_file)],
                          capture_output=True, text=True, timeout=120, check=True)
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["text"] == "Repair R-77 is ordered."
    assert [(c["tool"], c["status"], c["approval"]) for c in reply["tools"]] == [("order_repair", "ok", "approved")]
    assert ran(repairs) == [["order_repair", {"summary": "Cracked screen"}]]
    assert "unregistered type" not in done.stderr  # the saved turn's own types are allowed


def test_over_http_the_reply_carries_the_waiting_call_and_the_next_request_answers_it(guild_file, repairs):
    guild = scripted(guild_file, tool_step("order_repair", summary="Cracked screen"), "Repair R-77 is ordered.")
    with serving(create_app(guild)) as url:
        body = {"model": "desk/it", "messages": [{"role": "user", "content": REQUEST}]}
        paused = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"X-Session-Id": "h"}).json()
        assert paused["slmguild"]["pending"] == {"expert": "it", "tool": "order_repair",
                                                 "arguments": {"summary": "Cracked screen"}, "call_id": None}
        assert ran(repairs) == []
        answer = {**body, "slmguild": {"approve": True}}
        assert httpx.post(f"{url}/v1/chat/completions", json=answer).status_code == 400  # whose call?
        done = httpx.post(f"{url}/v1/chat/completions", json=answer, headers={"X-Session-Id": "h"}).json()
    assert done["choices"][0]["message"]["content"] == "Repair R-77 is ordered."
    assert done["slmguild"]["pending"] is None and len(ran(repairs)) == 1

