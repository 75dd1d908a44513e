"""Follow-ups read in their conversation: which questions lean on the turn before (exact
cases), and, in a guild, that such a question is routed and searched as the question in
context, with what the search used in the trace (scripted models, a real store)."""

from __future__ import annotations

import pytest

import slmguild
from slmguild import Retrieved
from slmguild.evaluation.conversations import conversation_quality, conversation_rows
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator.follow_ups import in_context, is_follow_up
from slmguild.testing import FakeEmbedder, ScriptedModel
from tests.test_orchestrator import echo, make_config
from tests.test_tools import ANSWER, call


@pytest.mark.parametrize("question", [
    "and in munich?",                                     # opens as a continuation
    "ok and the vpn one?",
    "is there money for that?",                           # points back
    "how long does it wait for me if I forget?",
    "do I have to take it all in one go?",
    "what about contractors?",
    "why?",                                               # says too little to stand alone
])
def test_a_question_that_leans_on_the_turn_before_is_a_follow_up(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "How many days of paid vacation does a full-time employee get per year?",
    "What are the first-response and resolution targets for a high priority IT ticket?",  # IT: the department
    "different question: does ACME match pension contributions?",   # announces a new topic
    "btw what's the monthly spending limit on a corporate card?",
    "my laptop is getting pretty old - after how many years does IT swap it for a new one?",
])
def test_a_question_that_stands_alone_is_left_as_it_is(question):
    assert not is_follow_up(question)
    assert in_context(question, "whats the hotel limit in paris?").query == question


def test_the_question_in_context_is_the_users_words_only_and_bounded():
    context = in_context("and in munich?", "whats the max i can spend on a hotel night in paris?")
    assert context.follows and context.query == "whats the max i can spend on a hotel night in paris? and in munich?"
    assert in_context("and in munich?", None).query == "and in munich?"  # a conversation's first turn
    long_before = " ".join(["hotel"] * 100)
    assert len(in_context("and in munich?", long_before).query.split()) == 60


def hotel_guild(tmp_path, document: str, *, answer: str) -> tuple[slmguild.Guild, KnowledgeBase]:
    """The scripted orchestra, its finance expert with `document` (hotel limits) ingested."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hotels.md").write_text(document)
    config = make_config(tmp_path, answer=answer)
    config.experts["finance"].knowledge.sources = [str(docs)]
    config.knowledge.store.path = str(tmp_path / "store")
    knowledge = KnowledgeBase(config, embedder=FakeEmbedder())
    knowledge.ingest()
    return slmguild.Guild(config, knowledge=knowledge), knowledge


@pytest.fixture
def hotels(tmp_path) -> tuple[slmguild.Guild, KnowledgeBase]:
    """The scripted orchestra, its finance expert with a document of hotel limits."""
    guild, knowledge = hotel_guild(tmp_path, "# Hotel limits\n\nThe hotel limit per night is 200 EUR in Paris and "
                                             "170 EUR in Munich.\n", answer="generative")
    for name in [*guild.experts, "fallback"]:
        guild.expert(name).model = ScriptedModel(replies=[echo(name)] * 6)
    return guild, knowledge


def test_a_follow_up_is_routed_and_searched_in_context_and_the_trace_says_so(hotels):
    guild, knowledge = hotels
    config = guild.config

    first = guild.run("what is the hotel limit per night in paris", session="trip")
    assert first.expert == "finance" and first.trace.route.query is None  # it stands alone
    events = list(guild.stream("and in munich?", session="trip"))
    reply = events[-1].reply
    assert reply.expert == "finance" and reply.trace.route.reason.startswith("follow-up")
    assert reply.trace.route.query == "what is the hotel limit per night in paris and in munich?"
    (searched,) = [event for event in events if isinstance(event, Retrieved)]
    assert searched.query == reply.trace.route.query and searched.hits  # the search used it
    saved = guild.session("trip")["traces"][-1]
    assert saved.route.query == reply.trace.route.query  # kept with the session: a next follow-up builds on it

    forced = guild.run("and in munich?", session="trip", expert="finance")  # forced: the search still in context
    assert forced.trace.route.query.endswith("and in munich? and in munich?")

    config.routing.follow_ups = False  # off: a follow-up is read in its own words, as before
    guild = slmguild.Guild(config, knowledge=knowledge)
    guild.expert("finance").model = ScriptedModel(replies=[echo("finance")] * 2)
    guild.run("what is the hotel limit per night in paris", session="trip-2")
    assert guild.run("and in munich?", session="trip-2").trace.route.query is None


def test_a_grounded_follow_up_is_drafted_in_context_and_leads_with_the_kind_of_value_asked_before(tmp_path):
    guild, _ = hotel_guild(tmp_path, "# Hotel limits for business travel\n\n| City | Limit per night |\n"
                                     "|---|---|\n| Paris | 200 EUR |\n| Munich | 170 EUR |\n", answer="grounded")
    # Each draft is true and beside the question: it states no amount, where the best passage does
    # ("and in munich?" asks for one in context: the hotel limit asked before).
    guild.expert("finance").model = model = ScriptedModel(replies=["Each city has its own limit for business travel."] * 2)
    guild.run("what is the hotel limit per night in paris", session="trip", expert="finance")
    reply = guild.run("and in munich?", session="trip")
    drafted_from = model.requests[-1]["messages"][-1].text
    assert "what is the hotel limit per night in paris and in munich?" in drafted_from
    assert reply.text.startswith("Hotel limits for business travel: City: Munich, Limit per night: 170 EUR")


def test_a_follow_up_fills_a_tool_argument_from_the_turn_before_and_never_from_an_example(write_guild):
    guild = slmguild.load_guild(write_guild(
        "name: g\nexperts:\n  it:\n    description: IT tickets\n    system_prompt: You are IT.\n"
        "    tools: ['tests.test_tools:ticket_status']\n"))
    it = guild.expert("it")
    it.model = ScriptedModel(replies=[
        call("ticket_status", ticket_id="IT-1042"), ANSWER, "It is in progress.",
        call("ticket_status", ticket_id="IT-1042"), ANSWER, "Still in progress.",   # the id said before: runs
        call("ticket_status", ticket_id="IT-1234"),                                 # an id nobody said: never
    ])
    guild.run("is my ticket IT-1042 open?", expert="it", session="s")
    followed = guild.run("and who is working on it?", expert="it", session="s")
    assert [(c.tool, c.arguments, c.status) for c in followed.trace.tools] == [
        ("ticket_status", {"ticket_id": "IT-1042"}, "ok")]
    made_up = guild.run("and the other one?", expert="it", session="s")
    assert made_up.trace.tools == [] and "IT-1234" not in made_up.text


def test_conversations_are_scored_on_their_last_turn(hotels):
    guild, _ = hotels
    rows = [
        {"id": "a", "kind": "follow-up", "turns": [
            {"question": "what is the hotel limit per night in paris", "expert": "finance"},
            {"question": "and in munich?", "expert": "finance", "keys": [["munich"]], "tool": None}]},
        {"id": "b", "kind": "topic-change", "turns": [
            {"question": "what is the hotel limit per night in paris", "expert": "finance"},
            {"question": "how many leave days do I have", "expert": "hr", "keys": [["leave days"]]}]},
    ]
    report = conversation_quality(guild, conversation_rows(rows))
    follow_up, change = report.last_turns
    assert (follow_up.expert, follow_up.routed, follow_up.correct) == ("finance", True, True) and follow_up.tool_right
    assert follow_up.trace.route.query.endswith("paris and in munich?")
    assert (change.expert, change.routed) == ("hr", True)
    assert (report.follow_up_routed, report.follow_up_correct, report.switched, report.tool_right) == (1, 1, 1, 1)
    assert guild.sessions() == []  # each conversation's session is gone with it
