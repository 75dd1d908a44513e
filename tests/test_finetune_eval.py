"""Adapter evaluation scores and registering an adapter in the guild file (exact, fast)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slmguild.config import load_config
from slmguild.errors import ConfigError
from slmguild.evaluation.tool_calls import ToolCase, ToolOutcome, ToolReport, same
from slmguild.finetune import Example, GainReport, SideScores, register_adapter


def _example(question: str, answer: str) -> Example:
    return Example.model_validate({"messages": [{"role": "user", "content": question},
                                                {"role": "assistant", "content": answer}]})


def test_control_kept_counts_only_what_the_base_answered_right():
    control = [_example("Capital of Italy?", "Rome."), _example("Capital of Spain?", "Madrid."),
               _example("Capital of Peru?", "Lima.")]
    report = GainReport("it", SideScores(control=["Rome.", "Madrid.", "I do not know."]),
                        SideScores(control=["Rome.", "Barcelona.", "Lima."]), control)
    assert report.control_right == [True, True, False]
    assert report.control_kept == 0.5  # the adapter broke one of the two the base knew; Lima does not count


def _outcome(tool: str | None, ran: tuple[str, ...], right_arguments: bool = False) -> ToolOutcome:
    case = ToolCase("request", "it", tool)
    right_tool = bool(ran) and ran[0] == tool
    return ToolOutcome(case, len(ran), len(ran), ran, right_tool, right_tool and right_arguments, 0.1)


def test_tool_report_scores_the_first_tool_run_and_false_calls_apart():
    report = ToolReport([
        _outcome("ticket_status", ("ticket_status",), right_arguments=True),
        _outcome("ticket_status", ("create_ticket", "ticket_status")),  # the first tool run decides
        _outcome("create_ticket", ()),
        _outcome(None, ("create_ticket",)),
        _outcome(None, ()),
    ])
    assert (len(report.needing), report.right_tool, report.right_arguments) == (3, 1, 1)
    assert (len(report.needing_none), report.false_calls) == (2, 1)


@pytest.mark.parametrize(("expected", "actual", "spec", "equal"), [
    ("IT-2291", "it-2291 ", {"type": "string", "pattern": "^IT-[0-9]+$"}, True),
    (1250, 1250.0, {"type": "number"}, True),
    ("EUR", None, {"type": "string", "enum": ["EUR", "USD"], "default": "EUR"}, True),  # left out: the default
    ("laptop screen flickers", "my laptop screen flickers a lot", {"type": "string"}, True),  # free text: ROUGE-L
    ("laptop screen flickers", "printer jammed", {"type": "string"}, False),
    ("SecureLink SL-401 persists after password reset", "SL-401 still shows after I reset my SecureLink password",
     {"type": "string"}, True),                                                   # other words, the same facts
    ("SecureLink SL-401 persists after password reset", "SecureLink SL-403 after password reset",
     {"type": "string"}, False),                                                  # a wrong code
    ("Wi-Fi drops in Berlin meeting room 4.12", "Wi-Fi drops in the Berlin meeting room", {"type": "string"}, False),
    ("2027-03-03", "3 March 2027", {"type": "string", "format": "date"}, True),  # dates: the same day
    ("2027-03-03", "2027-03-04", {"type": "string", "format": "date"}, False),
    ("2027-03-03", None, {"type": "string", "format": "date"}, False),
])
def test_arguments_compare_as_a_person_would(expected, actual, spec, equal):
    assert same(expected, actual, spec) is equal


def test_registering_an_adapter_keeps_the_guild_files_comments(example_guild, tmp_path):
    guild = tmp_path / "guild.yaml"
    shutil.copy(example_guild, guild)
    original = guild.read_text()
    config = register_adapter(guild, "hr", "adapters/hr/adapter.gguf", "ab" * 32)
    assert Path(config.model_for("hr").adapter) == tmp_path / "adapters/hr/adapter.gguf"
    assert config.model_for("hr").adapter_base == "ab" * 32
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert all(line in guild.read_text() for line in comments)
    register_adapter(guild, "hr", "acme-hr", None)  # e.g. an Ollama model: no base hash
    assert load_config(guild).model_for("hr").adapter_base is None


def test_a_registration_that_would_not_validate_leaves_the_file_untouched(example_guild, tmp_path):
    guild = tmp_path / "guild.yaml"
    shutil.copy(example_guild, guild)
    original = guild.read_text()
    with pytest.raises(ConfigError, match="adapter_base"):
        register_adapter(guild, "it", "adapters/it/adapter.gguf", "not-a-sha256")
    assert guild.read_text() == original and not list(tmp_path.glob(".*.new"))
