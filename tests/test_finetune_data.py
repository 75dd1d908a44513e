"""Fine-tuning datasets: formats, line-numbered errors, dedupe, splits, synthesis, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slmguild.cli import app
from slmguild.finetune import (
    DatasetError,
    assign_splits,
    dedupe,
    load_examples,
    synthesize,
    write_examples,
)
from slmguild.testing import ScriptedModel

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "acme" / "finetune"


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def test_chat_sharegpt_and_alpaca_become_one_shape(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [
        {"messages": [{"role": "user", "content": "VPN?"}, {"role": "assistant", "content": "Use SecureLink."}]},
        {"conversations": [{"from": "human", "value": "Leave?"}, {"from": "gpt", "value": "27 days."}]},
        {"instruction": "Convert", "input": "50 GBP to EUR", "output": "58.50 EUR", "split": "eval"},
    ])
    chat, sharegpt, alpaca = load_examples(path)
    assert [m.role for m in sharegpt.messages] == ["user", "assistant"] and sharegpt.messages[1].content == "27 days."
    assert alpaca.messages[0].content == "Convert\n\n50 GBP to EUR" and alpaca.split == "eval"
    assert chat.split is None


@pytest.mark.parametrize(("line", "problem"), [
    ("{not json", r"bad.jsonl:2: not JSON"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), r"bad.jsonl:2: messages: List should have at least 2"),
    (json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}), r"bad.jsonl:2: messages.0.role"),
    (json.dumps({"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}), r"bad.jsonl:2: .*end with the assistant"),
    (json.dumps({"prompt": "x", "completion": "y"}), r"bad.jsonl:2: unknown format"),
    (json.dumps(["a", "b"]), r"bad.jsonl:2: each line must be a JSON object"),
])
def test_a_malformed_line_is_an_error_with_its_line_number(tmp_path, line, problem):
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    with pytest.raises(DatasetError, match=problem):
        load_examples(write_lines(tmp_path / "bad.jsonl", [good, line]))


def test_an_empty_dataset_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="empty"):
        load_examples(write_lines(tmp_path / "empty.jsonl", ["", "  "]))


def test_duplicates_are_dropped_and_splits_are_kept_or_drawn(tmp_path):
    examples = load_examples(EXAMPLES / "hr.jsonl")
    doubled = examples + [examples[0].model_copy(update={"split": None})]
    unique, dropped = dedupe(doubled)
    assert dropped == 1 and unique == examples
    unsplit = [example.model_copy(update={"split": None}) for example in examples]
    first, second = assign_splits(unsplit, seed=3), assign_splits(unsplit, seed=3)
    assert first == second and {e.split for e in first} == {"train", "eval"}  # seeded, both splits
    assert assign_splits(examples) == examples  # explicit splits are kept
    write_examples(tmp_path / "out.jsonl", first)
    assert load_examples(tmp_path / "out.jsonl") == first


def test_the_example_guild_ships_a_dataset_per_expert():
    for expert in ("it", "hr", "finance"):
        examples = load_examples(EXAMPLES / f"{expert}.jsonl")
        splits = [example.split for example in examples]
        assert splits.count("train") >= 40 and splits.count("eval") >= 10
    assert {example.split for example in load_examples(EXAMPLES / "control.jsonl")} == {"eval"}


def test_synthesis_keeps_pairs_the_passage_supports():
    passage = "The guest Wi-Fi network is ACME-Guest; vouchers from reception are valid for 24 hours."
    teacher = ScriptedModel(replies=[
        json.dumps({"pairs": [
            {"question": "How long is a guest voucher valid?", "answer": "24 hours."},
            {"question": "What colour is the sky on Mars?", "answer": "Butterscotch pink."},
        ]}),
        "this is not JSON at all",
    ])
    examples = synthesize(teacher, [passage, passage])
    assert [(e.messages[0].content, e.messages[1].content) for e in examples] == [
        ("How long is a guest voucher valid?", "24 hours.")]
    schema = teacher.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["pairs"]["maxItems"] == 5


def test_cli_builds_and_inspects(tmp_path):
    runner = CliRunner()
    out = tmp_path / "all.jsonl"
    built = runner.invoke(app, ["finetune", "data", "build", str(EXAMPLES / "it.jsonl"), str(EXAMPLES / "it.jsonl"), "-o", str(out)])
    assert built.exit_code == 0, built.output
    assert "52 train, 12 eval (64 duplicates dropped)" in " ".join(built.output.split())
    shown = runner.invoke(app, ["finetune", "data", "inspect", str(out)])
    assert shown.exit_code == 0 and "64 examples (52 train, 12 eval), 0 duplicates" in " ".join(shown.output.split())
    bad = write_lines(tmp_path / "bad.jsonl", ["{oops"])
    failed = runner.invoke(app, ["finetune", "data", "build", str(bad), "-o", str(out)])
    assert failed.exit_code == 2 and "bad.jsonl:1: not JSON" in failed.output
