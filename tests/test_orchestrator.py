"""The orchestrator graph with scripted models: routes, fallback, escalation, multi-expert
turns, follow-ups, sessions (SQLite and PostgreSQL), crash safety, concurrency, bad input."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import slmguild
from slmguild import Done, Escalated, Planned, Routed, Token
from slmguild.config import GuildConfig
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator.planner import split_by_clauses
from slmguild.orchestrator.sessions import SessionStoreError
from slmguild.testing import FakeEmbedder, ScriptedModel
from tests.postgres import postgres_url  # noqa: F401  (fixture)

EXPERTS = {
    "it": {"vpn": ["how do I reset my vpn password", "the vpn does not connect"],
           "laptop": ["my laptop screen is broken", "I need a new laptop charger"]},
    "hr": {"leave": ["how many leave days do I have", "can I carry over annual leave days"],
           "parental": ["how long is parental leave"]},
    "finance": {"hotel": ["what is the hotel limit per night", "hotel limit for a business trip"],
                "expenses": ["how do I submit an expense report"]},
}


def make_config(
    tmp_path: Path, *, escalation: bool = False, store: str | None = None, answer: str = "grounded"
) -> GuildConfig:
    data = {
        "name": "orchestra",
        "experts": {
            name: {"description": f"the {name} expert", "system_prompt": f"You are {name}.", "exemplars": groups}
            for name, groups in EXPERTS.items()
        },
        "routing": {"default_threshold": 0.5},
        "sessions": {"store": store or str(tmp_path / "sessions.sqlite")},
        "knowledge": {"roots": [str(tmp_path)]},
        "answer": {"strategy": answer},
    }
    if escalation:
        data["escalation"] = {"backend": "openai", "url": "http://unused.invalid/v1", "name": "big"}
    return GuildConfig.model_validate(data)


def echo(name: str):
    """A reply that names its expert and repeats the question: exact to assert on."""
    return lambda messages, options: f"{name} answers: {messages[-1].text}"


def scripted_guild(tmp_path: Path, *, turns: int = 4, **options) -> slmguild.Guild:
    config = make_config(tmp_path, **options)
    guild = slmguild.Guild(config, knowledge=KnowledgeBase(config, embedder=FakeEmbedder()))
    for name in [*guild.experts, "fallback"] + (["escalation"] if guild.roster.escalation else []):
        guild.expert(name).model = ScriptedModel(replies=[echo(name)] * turns)
    return guild


def events_of(guild, message, **options):
    events = list(guild.stream(message, **options))
    assert isinstance(events[-1], Done)
    return events, events[-1].reply


def test_a_request_goes_to_the_expert_whose_exemplars_it_resembles(tmp_path):
    guild = scripted_guild(tmp_path)
    events, reply = events_of(guild, "please reset my vpn password")
    routed = events[0]
    assert isinstance(routed, Routed) and routed.expert == "it"
    assert routed.scores["it"] > routed.scores["hr"] and routed.scores["it"] > routed.scores["finance"]
    assert reply.text == "it answers: please reset my vpn password"
    assert "".join(e.text for e in events if isinstance(e, Token)).strip() == reply.text
    assert reply.trace.route.expert == "it" and reply.trace.route.routing_s < 1


def test_what_nobody_owns_goes_to_the_fallback(tmp_path):
    guild = scripted_guild(tmp_path)
    events, reply = events_of(guild, "tell me a joke about penguins")
    assert events[0].expert == "fallback" and "below its threshold" in events[0].reason
    assert reply.expert == "fallback" and reply.text.startswith("fallback answers")


def test_what_no_exemplar_owns_goes_to_the_expert_whose_documents_match_it(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "securelink.md").write_text("# SecureLink errors\n\nError SL-403 means your account is locked.\n")
    config = make_config(tmp_path)
    config.experts["it"].knowledge.sources = [str(docs)]
    config.knowledge.store.path = str(tmp_path / "store")
    knowledge = KnowledgeBase(config, embedder=FakeEmbedder())
    knowledge.ingest()

    def first_event(message: str, guild: slmguild.Guild) -> Routed:
        for name in ("it", "fallback"):
            guild.expert(name).model = ScriptedModel(replies=[echo(name)])
        return events_of(guild, message)[0][0]

    guild = slmguild.Guild(config, knowledge=knowledge)
    assert guild.routing.embedding_router.route("is my account locked with error SL-403").expert is None  # no exemplar owns it
    routed = first_event("is my account locked with error SL-403", guild)
    assert routed.expert == "it" and routed.reason.startswith("its documents match")
    assert first_event("tell me a joke about penguins", guild).expert == "fallback"
    config.routing.document_match = None  # switched off: exemplars alone decide
    assert first_event("is my account locked with error SL-403", slmguild.Guild(config, knowledge=knowledge)).expert == "fallback"


def test_what_nobody_owns_is_escalated_when_there_is_an_escalation_model(tmp_path):
    guild = scripted_guild(tmp_path, escalation=True)
    events, reply = events_of(guild, "tell me a joke about penguins")
    (escalated,) = [e for e in events if isinstance(e, Escalated)]
    assert escalated.model == "openai:big" and "no expert owns it" in escalated.reason
    assert reply.expert == "escalation" and reply.text.startswith("escalation answers")
    _, asked = events_of(guild, "please reset my vpn password", escalate=True)  # the user asks for it
    assert asked.expert == "escalation" and asked.trace.route.reason == "asked for by the user"
    assert guild.local_share() == 0.0
    events_of(guild, "please reset my vpn password")
    assert guild.local_share() == pytest.approx(1 / 3)


def test_escalate_without_an_escalation_model_says_how_to_add_one(tmp_path):
    with pytest.raises(slmguild.SlmguildError, match="add `escalation:`"):
        scripted_guild(tmp_path).run("hello there friend", escalate=True)


def test_a_request_spanning_two_experts_is_split_and_merged(tmp_path):
    guild = scripted_guild(tmp_path)
    message = "I'm flying to Berlin next week: how many leave days do I have and what is the hotel limit?"
    events, reply = events_of(guild, message)
    (planned,) = [e for e in events if isinstance(e, Planned)]
    assert [expert for expert, _ in planned.parts] == ["hr", "finance"]
    assert all(question.startswith("I'm flying to Berlin next week: ") for _, question in planned.parts)
    assert reply.expert == "hr+finance"
    assert "**hr**: hr answers: I'm flying to Berlin next week: how many leave days do I have" in reply.text
    assert "**finance**: finance answers: I'm flying to Berlin next week: what is the hotel limit?" in reply.text
    assert [part.route.expert for part in reply.trace.parts] == ["hr", "finance"]


def test_a_piece_that_says_nothing_on_its_own_stays_with_the_piece_before_it(tmp_path):
    scorer = scripted_guild(tmp_path).routing.scorer
    assert split_by_clauses("my laptop screen is broken. What do I do now?", scorer) is None
    plan = split_by_clauses("Hi! how many leave days do I have? And what is the hotel limit per night?", scorer)
    assert [(part.expert, part.question) for part in plan.parts] == [
        ("hr", "Hi! how many leave days do I have?"), ("finance", "And what is the hotel limit per night?")]


def test_the_parts_of_a_multi_expert_turn_run_at_the_same_time(tmp_path):
    guild = scripted_guild(tmp_path)
    both_answering = threading.Barrier(2, timeout=10)  # broken if one part waits for the other

    def meets_the_other_part(name):
        def reply(messages, options):
            both_answering.wait()
            return echo(name)(messages, options)
        return reply

    for name in ("hr", "finance"):
        guild.expert(name).model = ScriptedModel(replies=[meets_the_other_part(name)])
    reply = guild.run("I'm flying to Berlin next week: how many leave days do I have and what is the hotel limit?")
    assert [part.route.expert for part in reply.trace.parts] == ["hr", "finance"]
    assert "**hr**: hr answers: " in reply.text and "**finance**: finance answers: " in reply.text


def test_a_follow_up_stays_with_the_expert_of_the_conversation(tmp_path):
    guild = scripted_guild(tmp_path)
    _, first = events_of(guild, "how many leave days do I have", session="s1")
    events, second = events_of(guild, "and for contractors?", session="s1")
    assert first.expert == second.expert == "hr"
    assert events[0].reason == "follow-up: stays with hr"
    _, switched = events_of(guild, "what is the hotel limit per night", session="s1")
    assert switched.expert == "finance"  # a clear change of subject leaves


def test_sessions_persist_across_guild_instances_and_can_be_deleted(tmp_path):
    guild = scripted_guild(tmp_path)
    guild.run("how many leave days do I have", session="alice")
    guild.run("please reset my vpn password", session="bob")
    again = scripted_guild(tmp_path)  # a new process would see the same file
    reply = again.run("and for contractors?", session="alice")
    history = again.expert("hr").model.requests[-1]["messages"]
    assert [m.text for m in history[1:3]] == ["how many leave days do I have", "hr answers: how many leave days do I have"]
    assert reply.session == "alice" and reply.expert == "hr"
    assert set(again.sessions()) == {"alice", "bob"}
    state = again.session("alice")
    assert [turn.message for turn in state["traces"]] == ["how many leave days do I have", "and for contractors?"]
    again.delete_session("bob")
    assert again.sessions() == ["alice"]


def test_a_process_killed_mid_turn_keeps_every_finished_turn(tmp_path):
    marker = tmp_path / "second-turn-started"
    child = textwrap.dedent(f"""\
        import time, pathlib, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from tests.test_orchestrator import scripted_guild
        from slmguild.testing import ScriptedModel
        guild = scripted_guild(pathlib.Path({str(tmp_path)!r}))
        def hang(messages, options):
            pathlib.Path({str(marker)!r}).touch()
            time.sleep(120)
        guild.expert("hr").model = ScriptedModel(replies=[lambda m, o: "ten days", hang])
        guild.run("how many leave days do I have", session="crash")
        guild.run("can I carry over annual leave days", session="crash")
        """)
    process = subprocess.Popen([sys.executable, "-c", child])
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert process.poll() is None and time.time() < deadline, "the child died early"
            time.sleep(0.1)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    state = scripted_guild(tmp_path).session("crash")
    assert [(t.message, t.text) for t in state["traces"]] == [("how many leave days do I have", "ten days")]
    assert [m.text for m in state["messages"]] == ["how many leave days do I have", "ten days"]


@pytest.mark.asyncio  # in the app's own event loop, as an async web app calls it
async def test_concurrent_sessions_do_not_cross_talk(tmp_path):
    guild = scripted_guild(tmp_path, turns=16)

    async def converse(user: str) -> list[str]:
        await guild.arun(f"how many leave days do I have, {user}", session=user)
        streamed = [event async for event in guild.astream(f"can I carry over annual leave days, {user}",
                                                          session=user)]
        reply = streamed[-1].reply
        return [turn.message for turn in guild.session(user)["traces"]] + [reply.text]

    everyone = await asyncio.gather(*(converse(f"user{n}") for n in range(6)))
    for n, seen in enumerate(everyone):
        assert all(f"user{n}" in text for text in seen), seen
        assert not any(f"user{m}" in " ".join(seen) for m in range(6) if m != n)


def test_bad_input_is_a_clear_message(tmp_path):
    guild = scripted_guild(tmp_path)
    with pytest.raises(slmguild.SlmguildError, match="empty"):
        guild.run("   ")
    with pytest.raises(slmguild.UnknownExpert, match="no expert 'legal'"):
        guild.run("hello", expert="legal")
    reply = guild.run("please reset my vpn password " + "x" * 20_000)
    assert "cut to 6000 characters" in reply.trace.notice
    assert len(guild.expert("it").model.requests[-1]["messages"][-1].text) <= 6000


def test_a_corrupt_session_store_is_a_clear_error_and_is_left_alone(tmp_path):
    store = tmp_path / "sessions.sqlite"
    store.write_bytes(b"this is not a database, and it is the user's file" * 100)
    guild = scripted_guild(tmp_path)
    with pytest.raises(SessionStoreError, match="not an SQLite database or it is damaged"):
        guild.run("please reset my vpn password", session="x")
    assert store.read_bytes().startswith(b"this is not a database")  # nothing overwritten


def test_the_postgres_checkpointer_keeps_sessions(tmp_path, postgres_url):  # noqa: F811
    first = scripted_guild(tmp_path, store=postgres_url)
    first.run("how many leave days do I have", session="pg")
    second = scripted_guild(tmp_path, store=postgres_url)
    reply = second.run("and for contractors?", session="pg")
    assert reply.expert == "hr"
    assert [turn.message for turn in second.session("pg")["traces"]] == [
        "how many leave days do I have", "and for contractors?"]
    assert "pg" in second.sessions()


ONE_SLOW_TURN = """\
import json, sys, time
from pathlib import Path
from slmguild.testing import ScriptedModel
from tests.test_orchestrator import scripted_guild

folder, url, who = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
guild = scripted_guild(folder, store=url, answer="generative")

def slow(messages, options):
    started = time.time()
    time.sleep(1.5)
    with open(folder / "spans.jsonl", "a") as spans:
        spans.write(json.dumps([who, started, time.time()]) + "\\n")
    return who + " answers"

guild.expert("hr").model = ScriptedModel(replies=[slow])
guild.run("how many leave days do I have", expert="hr", session="shared")
"""


def test_two_processes_sharing_a_postgres_store_take_a_sessions_turns_one_at_a_time(tmp_path, postgres_url):  # noqa: F811
    root = Path(__file__).resolve().parents[1]
    runs = [subprocess.Popen([sys.executable, "-c", ONE_SLOW_TURN, str(tmp_path), postgres_url, who], cwd=root,
                             stderr=subprocess.PIPE, text=True) for who in ("first", "second")]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read()
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    (_, _, ended), (_, started, _) = sorted(spans, key=lambda span: span[1])
    assert started >= ended  # the second turn began once the first had ended, not meanwhile
    turns = scripted_guild(tmp_path, store=postgres_url).session("shared")["traces"]
    assert sorted(turn.text for turn in turns) == ["first answers", "second answers"]  # both kept


def test_an_expert_hands_off_with_the_built_in_tool(tmp_path):
    config = make_config(tmp_path)
    config.experts["it"].tools = ["handoff"]
    guild = slmguild.Guild(config, knowledge=KnowledgeBase(config, embedder=FakeEmbedder()))
    guild.expert("it").model = ScriptedModel(replies=[
        json.dumps({"action": "handoff", "arguments": {"expert": "payroll", "reason": "money"}}),  # invalid
        json.dumps({"action": "handoff", "arguments": {"expert": "hr", "reason": "leave is hr's"}}),
    ])
    guild.expert("hr").model = ScriptedModel(replies=[echo("hr")])
    events, reply = events_of(guild, "please reset my vpn password", session="h")
    (handoff,) = [e for e in events if isinstance(e, slmguild.Handoff)]
    assert (handoff.expert, handoff.to, handoff.reason) == ("it", "hr", "leave is hr's")
    routed = [e for e in events if isinstance(e, Routed)]
    assert [r.expert for r in routed] == ["it", "hr"] and routed[1].reason.startswith("handed off by it")
    assert reply.expert == "hr" and reply.text == "hr answers: please reset my vpn password"
    guild.expert("it").model.assert_all_used()
    # The saved session keeps the hop: the route the turn left, and the one it took.
    (saved,) = guild.session("h")["traces"]
    assert [route.expert for route in saved.rerouted_from] == ["it"] and saved.route.expert == "hr"
    assert saved.route.reason.startswith("handed off by it")


def test_a_multi_expert_part_that_is_handed_off_is_answered_by_the_expert_it_goes_to(tmp_path):
    guild = scripted_guild(tmp_path)
    guild.config.experts["finance"].tools = ["handoff"]
    guild.config.experts["finance"].tool_choice = "model"  # a plain question would skip the step
    guild = slmguild.Guild(guild.config, knowledge=guild.knowledge)
    guild.expert("hr").model = ScriptedModel(replies=[echo("hr")])
    guild.expert("finance").model = ScriptedModel(replies=[
        json.dumps({"action": "handoff", "arguments": {"expert": "it", "reason": "laptops are it's"}})])
    guild.expert("it").model = ScriptedModel(replies=[echo("it")])
    events, reply = events_of(guild, "how many leave days do I have and what is the hotel limit?", session="m")
    assert [e.expert for e in events if isinstance(e, Routed)] == ["it"]  # the part's hop
    assert reply.text == ("**hr**: hr answers: how many leave days do I have\n\n"
                          "**it**: it answers: what is the hotel limit?")
    (saved,) = guild.session("m")["traces"]
    assert [part.route.expert for part in saved.parts] == ["hr", "it"]
    assert [route.expert for route in saved.parts[1].rerouted_from] == ["finance"]


def test_the_guild_graph_runs_as_a_subgraph_of_another_langgraph_graph(tmp_path):
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph

    from slmguild.orchestrator.graph import ConversationState

    parent = StateGraph(ConversationState)
    parent.add_node("helpdesk", scripted_guild(tmp_path).graph())
    parent.add_edge(START, "helpdesk")
    parent.add_edge("helpdesk", END)
    app = parent.compile(checkpointer=InMemorySaver())
    chunks = list(app.stream({"request": {"message": "please reset my vpn password"}},
                             {"configurable": {"thread_id": "app"}}, stream_mode=["custom", "values"], subgraphs=True))
    # Its events come through LangGraph's own custom stream, from inside the subgraph.
    custom = [data for namespace, mode, data in chunks if mode == "custom"]
    assert [type(event) for event in custom] == [Routed, Token]
    assert all(namespace[0].startswith("helpdesk:") for namespace, mode, _ in chunks if mode == "custom")
    final = [data for namespace, mode, data in chunks if mode == "values" and namespace == ()][-1]
    assert final["messages"][-1].text == "it answers: please reset my vpn password"
    assert final["traces"][-1]["route"]["expert"] == "it"


def test_a_turn_saved_with_its_route_as_a_dict_reads_back_typed():
    from slmguild.orchestrator.graph import TurnWork
    from slmguild.orchestrator.trace import RouteTrace

    # Versions before typed routes saved a waiting turn's route (and the routes it left) as dicts.
    work = TurnWork({"expert": "hr", "reason": "forced by the caller", "routing_s": 0.01}, "hr",
                    left=[{"expert": "it", "reason": "router", "scores": {"it": 0.7}}])
    assert work.decision == RouteTrace(expert="hr", reason="forced by the caller", routing_s=0.01)
    work.reroute("finance", "handed off by hr")
    assert [route.expert for route in work.left] == ["it", "hr"] and work.decision.expert == "finance"


def test_the_guild_and_an_expert_are_langchain_runnables(tmp_path):
    from langchain_core.output_parsers import StrOutputParser

    guild = scripted_guild(tmp_path, turns=8)
    runnable = guild.as_runnable()
    answer = runnable.invoke("please reset my vpn password")
    assert answer.content == "it answers: please reset my vpn password"
    assert answer.response_metadata["expert"] == "it"
    assert answer.response_metadata["trace"]["route"]["expert"] == "it"
    # Streamed: the answer's pieces first, the reply's metadata last.
    chunks = list(runnable.stream({"message": "how many leave days do I have left", "session": "s"}))
    assert "".join(chunk.text for chunk in chunks) == "hr answers: how many leave days do I have left"
    assert chunks[-1].response_metadata["session"] == "s" and not chunks[0].response_metadata
    assert [reply.response_metadata["expert"] for reply in runnable.batch(
        ["please reset my vpn password", "how many leave days do I have left"])] == ["it", "hr"]
    # One expert alone, whatever the router would say; async, and in an LCEL chain.
    finance = guild.as_runnable(expert="finance")
    reply = asyncio.run(finance.ainvoke("please reset my vpn password"))
    assert (reply.text, reply.response_metadata["expert"]) == ("finance answers: please reset my vpn password", "finance")
    assert (finance | StrOutputParser()).invoke("what is the taxi limit") == "finance answers: what is the taxi limit"
    with pytest.raises(slmguild.UnknownExpert):
        guild.as_runnable(expert="nobody")


def test_the_example_guilds_langgraph_json_names_a_graph_that_answers(example_guild):
    # What `langgraph dev` in examples/acme loads: the module and variable langgraph.json names.
    folder = example_guild.parent
    spec = json.loads((folder / "langgraph.json").read_text())["graphs"]["acme-helpdesk"]
    path, variable = spec.split(":")
    loaded = importlib.util.spec_from_file_location("acme_langgraph_app", folder / path)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    module.guild.expert("fallback").model = ScriptedModel(replies=[echo("fallback")])
    state = getattr(module, variable).invoke({"request": {"message": "tell me a joke", "expert": "fallback"}})
    assert state["messages"][-1].text == "fallback answers: tell me a joke"


def test_the_llm_planner_splits_under_a_schema_of_the_guild_experts(tmp_path):
    guild = scripted_guild(tmp_path)
    guild.config.routing.planner = "llm"
    plan = {"parts": [{"expert": "hr", "question": "leave days left?"},
                      {"expert": "finance", "question": "hotel limit in Berlin?"}]}
    guild.routing.llm_planner.model = ScriptedModel(replies=[json.dumps(plan), json.dumps({"parts": [
        {"expert": "hr", "question": "leave days left?"}]})])
    events, _reply = events_of(guild, "leave days and the Berlin hotel limit, please")
    (planned,) = [e for e in events if isinstance(e, Planned)]
    assert planned.parts == (("hr", "leave days left?"), ("finance", "hotel limit in Berlin?"))
    schema = guild.routing.llm_planner.model.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["$defs"]["Part"]["properties"]["expert"]["enum"] == ["it", "hr", "finance"]
    _, single = events_of(guild, "how many leave days do I have")  # a one-expert plan: routed as usual
    assert single.expert == "hr"


def test_sessions_commands_list_show_export_and_delete(tmp_path, monkeypatch):
    from slmguild.cli import app

    guild = scripted_guild(tmp_path)
    guild.run("how many leave days do I have", session="work")
    guild.run("how many leave days do I have and what is the hotel limit?", session="work")  # two experts
    guild_file = tmp_path / "guild.yaml"
    guild_file.write_text(textwrap.dedent(f"""\
        name: orchestra
        sessions: {{store: {tmp_path / 'sessions.sqlite'}}}
        experts:
          hr: {{description: HR, system_prompt: HR desk.}}
        """))
    runner = CliRunner()
    listed = runner.invoke(app, ["sessions", "list", "-g", str(guild_file)])
    assert listed.exit_code == 0 and "work" in listed.stdout and "2 turns, with hr" in listed.stdout
    shown = runner.invoke(app, ["sessions", "show", "work", "-g", str(guild_file), "--trace"])
    assert shown.exit_code == 0, shown.output
    assert "you> how many leave days do I have" in shown.stdout
    assert "hr> hr answers: how many leave days do I have" in shown.stdout and "route: hr" in shown.stdout
    assert "hr+finance> **hr**: hr answers: how many leave days do I have" in shown.stdout
    assert "route: finance" in shown.stdout  # the second turn's parts, each with its route
    exported = json.loads(runner.invoke(app, ["sessions", "export", "work", "-g", str(guild_file)]).stdout)
    assert exported["turns"][0]["expert"] == "hr" and exported["turns"][0]["route"]["expert"] == "hr"
    assert exported["turns"][1]["expert"] == "hr+finance" and len(exported["turns"][1]["parts"]) == 2
    assert runner.invoke(app, ["sessions", "delete", "work", "-g", str(guild_file)]).exit_code == 0
    missing = runner.invoke(app, ["sessions", "show", "work", "-g", str(guild_file)])
    assert missing.exit_code == 2 and "no session named 'work'" in missing.output


def test_an_expert_whose_documents_say_nothing_relevant_escalates(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nReset the SecureLink password at selfservice.acme.example.\n")
    config = make_config(tmp_path, escalation=True)
    config.experts["it"].knowledge.sources = [str(docs)]
    config.knowledge.store.path = str(tmp_path / "store")
    guild = slmguild.Guild(config, knowledge=KnowledgeBase(config, embedder=FakeEmbedder()))
    guild.knowledge.ingest()
    guild.expert("it").model = ScriptedModel(replies=[echo("it")])
    guild.expert("escalation").model = ScriptedModel(replies=[echo("escalation")])
    _, found = events_of(guild, "reset the SecureLink password", expert="it")
    assert found.expert == "it" and found.trace.retrieved[0].similarity >= 0.25
    events, silent = events_of(guild, "quarterly tax filing deadline", expert="it", session="e")
    (escalated,) = [e for e in events if isinstance(e, Escalated)]
    assert "it's documents say nothing relevant" in escalated.reason
    assert silent.expert == "escalation" and silent.text == "escalation answers: quarterly tax filing deadline"
    (saved,) = guild.session("e")["traces"]  # the saved session keeps the route the turn left
    assert [route.expert for route in saved.rerouted_from] == ["it"]
    assert saved.route.expert == "escalation" and saved.route.reason == escalated.reason
