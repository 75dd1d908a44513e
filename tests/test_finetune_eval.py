"""Adapter evaluation scores and registering an adapter in the guild file (exact, fast)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slmguild.config import load_config
from slmguild.errors import ConfigError
from slmguild.finetune import Example, evaluate, register_adapter
from slmguild.testing import ScriptedModel


def _example(question: str, answer: str, split: str = "eval") -> Example:
    return Example.model_validate({"messages": [{"role": "user", "content": question},
                                                {"role": "assistant", "content": answer}], "split": split})


def test_evaluate_asks_each_question_without_then_with_the_adapter_under_the_expert_prompt():
    examples = [_example("Trained question?", "Learned in training.", "train"),
                _example("What is the VPN extension?", "Call ext. 4357.")]
    control = [_example("Capital of Italy?", "Rome."), _example("Capital of Spain?", "Madrid.")]
    before = ScriptedModel(replies=["I do not know.", "Rome.", "Madrid."])
    after = ScriptedModel(replies=["Call ext. 4357.", "Rome.", "Barcelona."])
    report = evaluate(before, after, examples, control=control, system_prompt="You are IT.")
    assert (report.before.exact, report.after.exact) == (0.0, 1.0)
    assert (report.control_before.contains, report.control_after.contains) == (1.0, 0.5)
    assert report.control_kept == 0.5  # the adapter broke one of the two the base knew
    first = before.requests[0]["messages"]
    assert [m.type for m in first] == ["system", "human"] and first[0].text == "You are IT."
    assert [item.question for item in report.answers] == ["What is the VPN extension?"]  # eval split only
    before.assert_all_used()
    after.assert_all_used()


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
