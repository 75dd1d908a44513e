"""Grounded answers: passages, the check, its remedies, the honest "not found", and
questions that never run a tool that changes something (scripted model, fake embedder)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import slmguild
from slmguild import Token
from slmguild.agents.answer_check import Evidence, figures
from slmguild.agents.grounded import Findings, GroundedAnswerer
from slmguild.config import AnswerConfig, load_config
from slmguild.knowledge import KnowledgeBase
from slmguild.knowledge.answer_types import asked_types, stated
from slmguild.knowledge.chunks import Chunk, Hit
from slmguild.knowledge.passages import Passage, distinctive_share, select_passages, split_passages
from slmguild.testing import FakeEmbedder, ScriptedModel
from slmguild.tools.executor import Observation
from slmguild.tools.side_effects import only_asks

DOC = """\
# Lost devices

## Report it immediately

Call the IT service desk on ext. 4357 at once. Then file a police report within 48 hours.

## Resetting

1. Open https://selfservice.acme.example/vpn in any browser.
2. Click Reset and type the new password twice.

## Limits

| City | Limit per night |
|------|-----------------|
| Berlin | 160 EUR |
"""


def hit(text: str = DOC) -> Hit:
    return Hit(Chunk("docs/lost.md", 0, text, "Lost devices", "", "", ""), 1.0, 1)


def test_passages_keep_their_heading_steps_stay_together_and_table_rows_name_their_columns():
    shown = [passage.shown for passage in split_passages(hit())]
    assert "Report it immediately: Call the IT service desk on ext. 4357 at once." in shown  # not cut at "ext."
    assert "Report it immediately: Then file a police report within 48 hours." in shown
    assert ("Resetting: 1. Open https://selfservice.acme.example/vpn in any browser.\n"
            "2. Click Reset and type the new password twice.") in shown
    assert "Limits: City: Berlin, Limit per night: 160 EUR" in shown


def test_the_word_that_tells_table_rows_apart_weighs_most():
    rows = [
        "Priorities: Priority: high, First response: 2 working hours",
        "Priorities: Priority: low, First response: 2 working days",
        "Priorities: Priority: normal, First response: 1 working day",
    ]
    share = distinctive_share("What is the first response time for a low priority ticket?", rows)
    assert share.argmax() == 1 and share[0] == share[2] < share[1]  # "priority", "response" tell none apart
    assert not distinctive_share("Hello?", rows).any()


def test_the_check_catches_an_invented_figure_and_an_unsupported_sentence_but_not_a_reformatted_one():
    evidence = Evidence(["Call ext. 4357 from 08:00. The card limit is 5,000 EUR."], "What is the card limit?")
    assert figures("Call 4357 at https://help.acme.example, code SL-403.") == [
        "https://help.acme.example", "SL-403", "4357"]
    assert evidence.check("The card limit is 5000 EUR; call 4357 at 8:00.").passed
    invented = evidence.check("The card limit is 7,500 EUR.")
    assert invented.unsupported_figures == ("7,500",)
    made_up = evidence.check("The card limit is 5,000 EUR, which resets every full moon on Mars.")
    assert made_up.unsupported_sentences and not made_up.unsupported_figures
    assert evidence.check("Which card do you mean?").passed  # a question back claims nothing
    echo = evidence.check("What is the card limit?")
    assert echo.adds_nothing and not echo.passed  # it answers nothing
    # What a 135M model drafted on the dev questions: no word or figure of the passages.
    for empty in ("Awesome!", "Here is a response:", 'The answer is: "No."'):
        assert evidence.check(empty).adds_nothing, empty
    assert not evidence.check("Call 4357.").adds_nothing  # a figure of the passages is an answer


def test_a_draft_that_runs_on_into_a_clause_of_its_own_keeps_the_start_that_passes():
    evidence = Evidence(["Library Notes: The header file of this library is libtasn1.h."],
                        "Which header do I include to use libtasn1?")
    draft = "The header file of this library is libtasn1.h, which is available on all GNU platforms."
    assert not evidence.check(draft).passed
    assert evidence.supported_start(draft) == "The header file of this library is libtasn1.h."
    assert evidence.supported_start("Bake it at 200 degrees, which is hot.") == ""  # no start passes


def test_a_passage_that_states_the_kind_of_value_asked_for_ranks_first(monkeypatch):
    question = "Which port does ssh connect to unless I say otherwise?"
    assert [kind.name for kind in asked_types(question)] == ["number", "default"]
    assert [kind.name for kind in asked_types("How long until I get a new phone?")] == ["duration"]
    assert not asked_types("Is the guest wifi free?")
    assert [kind.name for kind in stated(asked_types(question), "The default is 22.")] == ["number", "default"]
    assert stated(asked_types("which option keeps access times?"), "--atime-preserve: Preserve access times.")
    how_to = asked_types("How do I reset my password?")
    assert stated(how_to, "Resetting: 1. Open the portal.\n2. Click Reset.") and not stated(how_to, "Open the portal.")
    entry = Hit(Chunk("ssh_config.5", 0, "## Port\n\nSpecifies the port number that ssh connects to on the remote host. "
                      "The default is 22.", "ssh_config", "", "", ""), 1.0, 1)
    best, _ = select_passages(question, [entry], FakeEmbedder(), count=2)[0]
    assert best.shown == "Port: The default is 22."
    monkeypatch.setattr("slmguild.knowledge.passages.asked_types", lambda _: ())  # words alone pick the other
    assert select_passages(question, [entry], FakeEmbedder(), count=2)[0][0].shown.startswith("Port: Specifies")


def test_a_follow_up_finds_its_passages_and_the_kind_it_asks_for_in_context():
    card = Hit(Chunk("docs/cards.md", 0, "## Lost corporate card\n\nBlock the corporate card in ClaimIt at once. "
                     "A new corporate card arrives within 10 working days.", "Cards", "", "", ""), 1.0, 1)
    answerer = GroundedAnswerer("finance", AnswerConfig(min_similarity=0.3), FakeEmbedder)
    follow_up, in_context = "and then?", "I lost my corporate card, what do I do? and then?"
    assert not answerer.findings(follow_up, [card], ())  # its own words are near nothing
    found = answerer.findings(follow_up, [card], (), context=in_context)
    assert {p.text for p, _ in found.passages} == {"Block the corporate card in ClaimIt at once.",
                                                    "A new corporate card arrives within 10 working days."}
    hotels = Hit(Chunk("docs/hotels.md", 0, "| City | Limit per night |\n|---|---|\n| Paris | 200 EUR |\n"
                       "| Munich | 170 EUR |", "Hotel limits", "", "", ""), 1.0, 1)
    found = answerer.findings("and in munich?", [hotels], (), context="what's the hotel limit in paris? and in munich?")
    assert [kind.name for kind in found.kinds] == ["amount"]  # asked in context: its own words ask no kind
    assert found.passages[0][0].text == "City: Munich, Limit per night: 170 EUR"
    assert found.misses_the_kind("Munich has a limit per night.") and not found.misses_the_kind("Munich: 170 EUR.")


def test_a_request_to_act_is_not_a_plain_question():
    assert only_asks("How do I report a phishing email?")
    assert only_asks("got a weird email asking me to log in somewhere, what do I do with it?")
    assert not only_asks("Please create a ticket: my headset microphone stopped working.")
    assert not only_asks("Could you open a ticket for the broken screen?")
    assert not only_asks("Open a ticket for my broken mouse")
    # Asking how the act is done is a question about it, not the act.
    assert only_asks("How do I open a ticket for a broken laptop?")
    assert only_asks("Where do I log a request for new software?")
    assert not only_asks("How do I open a ticket? Please open one for my cracked screen.")
    assert not only_asks("my laptop was stolen, open a ticket?")
    assert not only_asks("the printer is jammed again, can we open a ticket for it?")
    # An act someone else does is no request to do it.
    assert only_asks("Before I open a ticket myself: what priority should I pick?")
    assert only_asks("If I email the help desk, does that create a ticket?")


@pytest.fixture
def grounded_guild(tmp_path: Path):
    def build(min_similarity: float = -1.0) -> slmguild.Guild:
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "docs" / "lost.md").write_text(DOC)
        guild_file = tmp_path / "guild.yaml"
        guild_file.write_text(textwrap.dedent(f"""\
            name: grounded-test
            knowledge: {{store: {{path: store}}}}
            answer: {{strategy: grounded, min_similarity: {min_similarity}}}
            experts:
              it:
                description: IT
                system_prompt: You are the IT desk.
                knowledge: {{sources: [docs]}}
                answer: {{not_found: "I could not find this in the IT documents: call ext. 4357."}}
            """))
        config = load_config(guild_file)
        knowledge = KnowledgeBase(config, embedder=FakeEmbedder())
        knowledge.ingest()
        return slmguild.Guild(config, knowledge=knowledge)

    return build


def answered(guild: slmguild.Guild, question: str, *drafts: str) -> list[slmguild.Reply]:
    """The IT expert's reply to `question` once per scripted draft."""
    with ScriptedModel(replies=list(drafts)) as model:
        guild.expert("it").model = model
        return [guild.run(question, expert="it") for _ in drafts]


def test_the_checked_draft_leads_with_its_source_and_the_passages_are_the_sources(grounded_guild):
    guild = grounded_guild()
    with ScriptedModel(replies=["Call the IT service desk on ext. 4357 at once."]) as model:
        guild.expert("it").model = model
        events = list(guild.stream("My laptop was stolen, who do I call?", expert="it"))
    tokens = [event.text for event in events if isinstance(event, Token)]
    reply = events[-1].reply
    assert "".join(tokens) == reply.text
    assert reply.text.startswith("Call the IT service desk on ext. 4357 at once. [lost]\n\nAlso: ")
    assert reply.trace.answer.outcome == "checked" and reply.trace.answer.lead == "Call the IT service desk on ext. 4357 at once."
    # The evidence is not pasted into the answer: it travels as the reply's sources.
    assert reply.sources and all(source["id"] == "lost" for source in reply.sources)
    assert any("ext. 4357" in source["text"] for source in reply.sources)


def test_a_draft_that_fails_the_check_gives_way_to_the_best_passage(grounded_guild):
    guild = grounded_guild()
    with ScriptedModel(replies=[
        "Call ext. 5555 within 3 hours.",
        "Click Reset, then sacrifice a goat under the full moon to restore the password.",
        "Call the desk, then sacrifice a goat under the full moon to restore the laptop.",
    ]) as model:
        guild.expert("it").model = model
        invented = guild.run("My laptop was stolen, who do I call?", expert="it")
        near_steps = guild.run("How do I reset my password?", expert="it")
        unsupported = guild.run("My laptop was stolen, who do I call?", expert="it")
    assert "5555" not in invented.text and invented.trace.answer.outcome == "quoted"
    assert invented.trace.answer.unsupported_figures == ["5555", "3"]
    assert invented.text.startswith("Report it immediately: Call the IT service desk on ext. 4357 at once. [lost]\n\n"
                                    "Also: ")
    # A how-to is answered by its steps, as the document has them.
    assert near_steps.text.startswith("Resetting: 1. Open https://selfservice.acme.example/vpn")
    assert "goat" not in unsupported.text and unsupported.trace.answer.unsupported_sentences


def test_a_draft_beside_the_kind_of_value_asked_for_gives_way_to_the_passage_that_states_it(grounded_guild):
    beside, on_it = answered(grounded_guild(), "How long do I have to file a police report for a stolen laptop?",
                             "Call the IT service desk on ext. 4357 at once.", "File a police report within 48 hours.")
    assert beside.trace.answer.draft.startswith("Call the IT") and beside.trace.answer.outcome == "quoted"
    assert beside.text.startswith("Report it immediately: Then file a police report within 48 hours.")
    assert on_it.trace.answer.outcome == "checked" and on_it.text.startswith("File a police report within 48 hours.")


def test_the_lead_is_the_start_of_a_draft_that_runs_on_and_the_cut_clause_stays_in_the_trace(grounded_guild):
    [reply] = answered(grounded_guild(), "My laptop was stolen, who do I call?",
                       "Call the IT service desk on ext. 4357 at once, which also sends you a new laptop by courier.")
    assert reply.trace.answer.outcome == "checked"
    assert reply.text.startswith("Call the IT service desk on ext. 4357 at once. [lost]")
    assert reply.trace.answer.unsupported_sentences and "courier" in reply.trace.answer.draft
    assert "courier" not in reply.text


def test_a_draft_that_asks_the_question_back_never_leads_but_one_that_asks_for_what_is_missing_does(grounded_guild):
    echoed, asks = answered(grounded_guild(), "My laptop was stolen, who do I call?",
                            "My laptop was stolen: who do I call?", "Which laptop model was it?")
    assert echoed.trace.answer.outcome == "quoted" and echoed.text.startswith("Report it immediately: Call the IT")
    assert asks.trace.answer.outcome == "checked" and asks.text.startswith("Which laptop model was it?")


def test_also_brings_a_passage_that_says_more_than_the_lead():
    portal = Passage("The portal is reachable from the internet, so no VPN is needed to reset it.", "Before", hit())
    again = Passage("The portal is reachable from any internet connection: no VPN is needed to reset it.", "Intro", hit())
    steps = Passage("1. Open the portal.\n2. Click Reset and type the new password twice.", "Steps", hit())
    lead, source, also = Findings(((portal, 0.9), (again, 0.8), (steps, 0.7)), ()).lead()
    assert (lead, source) == (portal.shown, ("lost",)) and also == f"{steps.shown} [lost]"


def test_also_brings_a_passage_with_a_figure_or_path_the_lead_lacks():
    vps = Passage("Holder: VPs, Monthly limit: 10,000 EUR", "Limits", hit())
    employees = Passage("Holder: Employees, Monthly limit: 5,000 EUR", "Limits", hit())
    assert Findings(((vps, 0.9), (employees, 0.8)), ()).lead()[2] == f"{employees.shown} [lost]"
    name = Passage("ssh_config — OpenSSH client configuration file", "NAME", hit())
    per_user = Passage("This is the per-user configuration file.", "~/.ssh/config", hit())   # a path the lead lacks
    assert Findings(((name, 0.9), (per_user, 0.8)), ()).lead()[2] == f"{per_user.shown} [lost]"


def test_a_checked_sentence_cites_every_passage_that_holds_its_figures():
    city = Passage("City: Berlin, Limit per night: 160 EUR", "Nightly limits", hit())
    rule = Passage("Category: hotel, Limit: 140 EUR; for example Berlin 160 EUR, breakfast and taxes included.",
                   "Categories", Hit(Chunk("docs/categories.md", 0, "", "Categories", "", "", ""), 0.5, 2))
    cites, _ = Findings(((city, 0.9), (rule, 0.8)), ()).source_of("Berlin: 160 EUR a night, taxes included.")
    assert cites == ("lost", "categories")


def test_a_figure_is_supported_only_in_its_own_context():
    evidence = Evidence(["Keys use 128-bit encryption.", "The default compression level is -6."], "What is the default?")
    assert evidence.check("The pager shows 128 lines.").unsupported_figures == ("128",)
    assert evidence.check("Keys use 128-bit encryption.").passed
    assert evidence.check("The default level is 6.").passed
    # Its unit alone is no context: what an SSO session lasts is no password's length.
    sessions = Evidence(["Session length: An SSO session lasts 10 hours."], "What is the master password's minimum length?")
    assert sessions.check("The master password's minimum length is 10 hours.").unsupported_figures == ("10",)
    assert sessions.check("An SSO session lasts 10 hours.").passed


def test_a_tool_result_reaches_the_user_as_a_sentence():
    result = json.dumps({"category": "meals", "limit_eur": 25.0, "unit": "EUR per person per meal"})
    assert Observation("expense_limit", {}, "ok", result).sentence == (
        "expense_limit: category meals, limit eur 25.0, unit EUR per person per meal.")
    said = Observation("expense_limit", {}, "ok", result, said="Meals: up to 25.0 EUR per person per meal.")
    assert said.sentence == "Meals: up to 25.0 EUR per person per meal."


def test_nothing_relevant_found_gives_the_honest_answer_without_asking_the_model(grounded_guild):
    guild = grounded_guild(min_similarity=0.99)
    with ScriptedModel(replies=[]) as model:  # any request to it would fail the test
        guild.expert("it").model = model
        reply = guild.run("What is the capital of Peru?", expert="it")
    assert reply.text == "I could not find this in the IT documents: call ext. 4357."
    assert reply.trace.answer.outcome == "not_found"
