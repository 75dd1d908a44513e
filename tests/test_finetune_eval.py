"""Adapter evaluation scores and registering an adapter in the guild file (exact, fast)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slmguild.config import load_config
from slmguild.errors import ConfigError
from slmguild.finetune import Example, evaluate, register_adapter, rouge_l, score
from slmguild.finetune.evaluate import contains_facts, key_facts
from slmguild.testing import ScriptedModel


def _example(question: str, answer: str, split: str = "eval") -> Example:
    return Example.model_validate({"messages": [{"role": "user", "content": question},
                                                {"role": "assistant", "content": answer}], "split": split})


def test_rouge_l_is_the_f1_of_the_longest_common_word_subsequence():
    assert rouge_l("Call ext. 4357 now", "Call ext. 4357 now") == 1.0
    # LCS "call 4357" = 2 words: precision 2/3, recall 2/4 -> F1 4/7
    assert rouge_l("call IT 4357", "Call the desk 4357") == pytest.approx(4 / 7)
    assert rouge_l("nothing shared", "Paris.") == 0.0
    assert rouge_l("", "Paris.") == 0.0


def test_key_facts_are_numbers_urls_and_addresses_else_the_whole_reference():
    reference = "Go to https://selfservice.acme.example/vpn or call ext. 4357."
    assert key_facts(reference) == ["https://selfservice.acme.example/vpn", "4357"]
    assert key_facts("Paris.") == ["paris"]
    assert contains_facts("The capital is Paris, of course.", "Paris.")
    assert contains_facts("Call 4357, then visit https://selfservice.acme.example/vpn.", reference)
    assert not contains_facts("Call 4357.", reference)


def test_scores_are_means_over_the_answers():
    result = score(["Rome.", "It is Paris", "Lyon"], ["Rome", "Paris.", "Madrid."], ratings=[5, 4, 1])
    assert (result.exact, result.contains, result.judge) == (pytest.approx(1 / 3), pytest.approx(2 / 3), 10 / 3)


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
