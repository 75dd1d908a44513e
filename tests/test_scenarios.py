"""Scenario files: their format and errors, the checks, the runner's report, `slmguild
test` and the pytest plugin (scripted models, the example guild's real search and tools)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from slmguild.cli import app
from slmguild.orchestrator import Reply
from slmguild.orchestrator.trace import RouteTrace, TurnTrace
from slmguild.scenarios import ScenarioError, ScenarioRunner, load_scenario
from slmguild.scenarios.checks import check_turn
from slmguild.scenarios.report import turn_report
from slmguild.scenarios.spec import Expectations


@pytest.fixture
def write_scenario(tmp_path: Path, example_guild: Path):
    """Write a scenario file for the example guild from its turns' YAML."""

    def write(body: str, name: str = "case.scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(f"guild: {example_guild}\n" + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


# -- the format -------------------------------------------------------------------------


def test_an_invalid_file_fails_at_load_with_file_line_and_field(write_scenario):
    path = write_scenario("""\
        turns:
          - user: How do I reset my VPN password?
            expect:
              routed_to: it
              answer_contians: [portal]
        """)
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert str(error.value) == f"{path}:6: turns.0.expect.answer_contians: Extra inputs are not permitted"


def test_invalid_yaml_and_a_bad_regex_name_their_line(write_scenario):
    broken = write_scenario("turns:\n  - user: [unclosed\n", name="yaml.scenario.yaml")
    with pytest.raises(ScenarioError, match=r"yaml.scenario.yaml:\d+: invalid YAML"):
        load_scenario(broken)
    pattern = write_scenario("turns:\n  - user: hi\n    expect:\n      answer_matches: '(unclosed'\n")
    with pytest.raises(ScenarioError, match=r"case.scenario.yaml:5: turns.0.expect.answer_matches: .*regular"):
        load_scenario(pattern)


def test_shorthands_expand_and_the_file_name_is_the_default_name(write_scenario):
    scenario = load_scenario(write_scenario("""\
        modes: real
        turns:
          - user: Where is IT-1042?
            replies: {it: [{tool: ticket_status, arguments: {ticket_id: IT-1042}}, In progress.]}
            expect: {routed_to: it, tools_called: [ticket_status], answer_contains: progress}
        """))
    assert scenario.name == "case" and scenario.modes == ["real"] and len(scenario.sessions) == 1
    expect = scenario.sessions[0].turns[0].expect
    assert expect.routed_to == ["it"] and expect.answer_contains == ["progress"]
    assert expect.tools_called[0].name == "ticket_status" and expect.tools_called[0].arguments == {}


# -- the checks -------------------------------------------------------------------------


def _reply(expert="it", text="Reset it at the portal.", tools=(), retrieved=()) -> Reply:
    trace = {"route": {"expert": expert, "reason": "closest exemplars", "scores": {expert: 0.7}},
             "tools": list(tools), "retrieved": list(retrieved)}
    return Reply(text=text, expert=expert, model="scripted", trace=TurnTrace.model_validate(trace))


def _call(tool, status="ok", **arguments):
    return {"tool": tool, "arguments": arguments, "status": status, "content": "{}", "expert": "it"}


def test_each_unmet_expectation_says_what_was_expected_and_what_happened():
    reply = _reply(tools=[_call("ticket_status", ticket_id="IT-1042")],
                   retrieved=[{"id": "printing", "chunk": "printing#1", "source": "docs/it/printing.md", "score": 0.5,
                              "rank": 1}])
    expect = Expectations(routed_to="hr", escalated=True, tools_called=[{"name": "create_ticket"}],
                          retrieved=["vpn-password-reset"], answer_contains=["ext. 4357"],
                          answer_not_contains=["PORTAL"], answer_matches=r"IT-\d{4}")
    assert check_turn(expect, reply) == [
        "routed_to: expected hr, but it answered",
        "escalated: expected the escalation model to answer, but it did not",
        "tools_called: expected a call to create_ticket, but the turn called ticket_status({'ticket_id': 'IT-1042'})",
        "retrieved: expected vpn-password-reset among the documents found, but the search found printing",
        "answer_contains: the answer does not contain 'ext. 4357'",
        "answer_not_contains: the answer contains 'PORTAL'",
        r"answer_matches: the answer does not match /IT-\d{4}/",
    ]


def test_tool_expectations_are_an_ordered_subset_of_the_calls_that_ran():
    reply = _reply(tools=[_call("ticket_status", status="invalid", ticket_id="1042"),
                          _call("ticket_status", ticket_id="IT-1042"),
                          _call("create_ticket", summary="Printer jam", priority="high")])
    assert check_turn(Expectations(tools_called=["ticket_status", "create_ticket"]), reply) == []
    assert check_turn(Expectations(tools_called=[{"name": "create_ticket", "arguments": {"priority": "HIGH"}}]),
                      reply) == []
    assert check_turn(Expectations(tools_called=["create_ticket", "ticket_status"]), reply) != []  # order
    assert check_turn(Expectations(tools_called=[]), reply)[0].startswith("tools_called: expected no tool call")
    assert check_turn(Expectations(tools_called=[]), _reply()) == []  # an invalid call did not run


def test_a_multi_expert_turn_is_routed_to_each_part_expert():
    reply = _reply(expert="hr+finance", text="**hr**: 25 days\n\n**finance**: 150 EUR")
    reply.trace.parts = [TurnTrace(route=RouteTrace(expert="hr")), TurnTrace(route=RouteTrace(expert="finance"))]
    assert check_turn(Expectations(routed_to=["finance", "hr"]), reply) == []
    assert check_turn(Expectations(routed_to="hr"), reply) == ["routed_to: expected hr, but hr + finance answered"]


# -- the runner, scripted, on the example guild ---------------------------------------------

BROKEN = """\
    name: a deliberately broken scenario
    turns:
      - user: Where do I reset my VPN password?
        replies: {it: ["Open https://selfservice.acme.example/vpn."]}
        expect: {routed_to: it, retrieved: [vpn-password-reset], answer_contains: ["[vpn-password-reset]"]}
      - user: How many days of annual leave do I get per year?
        replies: {it: ["You get 25 days."]}
        expect:
          routed_to: it
          answer_contains: ["25 days"]
    """


def test_a_broken_scenario_reports_the_failing_turn_with_its_expectation_and_trace(write_scenario):
    result = ScenarioRunner().run(load_scenario(write_scenario(BROKEN)), "scripted")
    first, second = result.turns
    # The scripted draft passed the check: it leads, with the document it rests on.
    lead = first.reply.text.splitlines()[0]
    assert first.passed and lead.startswith("Open https://selfservice.acme.example/vpn. [") and "[vpn-password-reset]" in lead
    assert not result.passed and not second.passed
    # hr skipped its tool step (a plain question, nearest one it answers itself): its first
    # request is the grounded answer's, with the question and the notes found for it.
    assert second.failures == [
        ("the turn failed: ScriptedModel 'hr' has no reply left for request 1 "
         "(last message: 'Question: How many days of annual leave do I get per year?\\n\\nNotes:\\n- Entitlement: "
         "Every full-time employee receives 27 w')"),
        "replies.it: not all used: the turn asked it fewer times than scripted",
    ]
    report = turn_report(second)
    assert report.startswith(f"{second.where}: turn failed\n  user: How many days of annual leave")
    assert second.where.endswith("case.scenario.yaml:7")
    assert "  routed to hr: " in report and "    routed_to: ['it']" in report


def test_tools_run_for_real_and_the_trace_shows_a_wrong_expectation(write_scenario):
    path = write_scenario("""\
        turns:
          - user: Please open a high priority ticket, the 3rd floor printer in Lyon is on fire
            approve: true
            replies:
              it:
                - {tool: create_ticket, arguments: {summary: 3rd floor printer in Lyon is on fire, priority: high}}
                - I opened a ticket for you.
            expect:
              routed_to: it
              tools_called: [{name: create_ticket, arguments: {priority: urgent}}]
        """)
    (turn,) = ScenarioRunner().run(load_scenario(path), "scripted").turns
    assert turn.failures[0].startswith("tools_called: expected a call to create_ticket with {'priority': 'urgent'}")
    report = turn_report(turn)
    call = "tool create_ticket({'summary': '3rd floor printer in Lyon is on fire', 'priority': 'high'}) -> ok:"
    assert call in report
    assert "IT-" in turn.reply.trace.tools[0].content  # the ticket row was written


def test_a_reply_for_a_role_the_guild_does_not_have_names_its_line(write_scenario):
    path = write_scenario("""\
        turns:
          - user: How do I reset my VPN password?
            replies: {itt: [Use the portal.]}
        """)
    result = ScenarioRunner().run(load_scenario(path), "scripted")
    assert result.error == (f"{path}:4: replies.itt: the guild has no model role 'itt' "
                            "(it has: it, hr, finance, fallback, router, planner, judge)")


def test_slmguild_test_exits_1_with_a_report_and_writes_junit(write_scenario, tmp_path):
    write_scenario(BROKEN, name="broken.scenario.yaml")
    write_scenario("""\
        turns:
          - user: Write me a poem about autumn leaves
            replies:
              fallback: [Leaves fall softly.]
              judge: ['{"score": 5, "reason": "a poem"}']
            expect: {routed_to: fallback, judge: {rubric: It is a poem., min_score: 4}}
        """, name="fine.scenario.yaml")
    junit = tmp_path / "out" / "junit.xml"
    result = CliRunner().invoke(app, ["test", str(tmp_path), "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    assert "FAIL a deliberately broken scenario [scripted]" in result.output
    assert "PASS fine [scripted]" in result.output and "1 passed, 1 failed (3 turns)" in result.output
    assert "routed_to: ['it']" in result.output
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    failure = suite.find("testcase[@name='a deliberately broken scenario [scripted]']/failure")
    assert "ScriptedModel 'hr' has no reply left" in failure.get("message")


def test_slmguild_test_refuses_an_invalid_file_before_running_anything(write_scenario, tmp_path):
    write_scenario("turns: []\n", name="empty.scenario.yaml")
    result = CliRunner().invoke(app, ["test", str(tmp_path)])
    assert result.exit_code == 2
    assert "empty.scenario.yaml:1: (top level): Value error, a scenario needs `turns` or `sessions`" in result.output


# -- the pytest plugin, in a project of its own ---------------------------------------------


def test_the_pytest_plugin_collects_scenarios_blocks_real_models_and_offers_fixtures(
    pytester: pytest.Pytester, example_guild: Path
):
    # Opted into as a user would: the plugin is not loaded into every pytest run.
    pytester.makeini(f"[pytest]\naddopts = -p slmguild.scenarios.plugin\nslmguild_guild = {example_guild}\n"
                     "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    good = textwrap.dedent(f"""\
        guild: {example_guild}
        turns:
          - user: How do I reset my VPN password?
            replies: {{it: [Use https://selfservice.acme.example/vpn.]}}
            expect: {{routed_to: it, retrieved: [vpn-password-reset]}}
        """)
    pytester.makefile(".scenario.yaml", good=good, broken=good.replace("routed_to: it", "routed_to: hr"),
                      invalid="guild: x\nturns:\n  - usr: hi\n")
    pytester.makepyfile(test_app=f'''
        import pytest
        from slmguild import load_guild
        from slmguild.testing import expert_replies

        def test_scripted(guild, scripted_model):
            script = [("ticket_status", {{"ticket_id": "IT-1042"}}), "In progress."]
            scripted_model.replies += expert_replies(guild.expert("it"), script)
            reply = guild.run("Where is my ticket IT-1042?")
            # The draft states none of the result's figures: the result's own sentence leads.
            assert reply.expert == "it" and reply.text.startswith("Ticket IT-1042 (")
            assert reply.trace.tools[0].status == "ok"

        async def test_async(guild, scripted_model):
            scripted_model.replies += expert_replies(guild.expert("it"), ["Use the self-service portal."])
            reply = await guild.arun("Where do I reset my VPN password?")
            assert reply.text.startswith("Use the self-service portal.")

        def test_unused_replies_fail(scripted_model):
            scripted_model.replies.append("never asked")

        def test_real_requests_are_blocked():
            load_guild(r"{example_guild}").run("How do I reset my VPN password?")
        ''')
    # In this process: the knowledge store (local Qdrant, one process at a time) is shared.
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA", "--continue-on-collection-errors")
    result.assert_outcomes(passed=4, failed=2, errors=2)
    output = result.stdout.str()
    assert "broken.scenario.yaml:3: turn failed" in output and "routed_to: expected hr, but it answered" in output
    assert "invalid.scenario.yaml:3: turns.0.usr: Extra inputs are not permitted" in output
    assert "ScriptedModel 'scripted_model': 1 scripted replies were never used" in output
    assert "ModelRequestsBlocked: a request to the real model embedded:smollm2-135m-instruct" in output


def test_the_pytest_plugin_stays_out_of_projects_that_do_not_ask_for_it(pytester: pytest.Pytester):
    pytester.makefile(".scenario.yaml", lonely="guild: guild.yaml\nturns:\n  - user: hi\n")
    pytester.makepyfile(test_app="def test_models_reachable():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)  # the scenario file is not collected, and nothing is blocked
