"""Training data that is an expert's own work: grounded-answer (RAFT) and tool-step rows,
built from the example guild's real search (real embedder, local Qdrant; no model runs)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import slmguild
from slmguild.agents.answer_check import Evidence
from slmguild.agents.grounded import DRAFT_SYSTEM
from slmguild.cli import app
from slmguild.finetune import load_examples
from slmguild.finetune.expert_work import (
    NOT_IN_NOTES,
    Question,
    grounded_examples,
    tool_step_examples,
)

QUESTIONS = [
    Question("hotel limit london per night?", "230 EUR per night, including taxes and breakfast.",
             "docs/finance/hotel-limits-by-city.md"),
    Question("whats the km rate if i drive my own car for a work trip",
             "0.32 EUR per km under the mileage category.", "docs/finance/expense-limits-by-category.md"),
    Question("tripdesk support phone number?", "TripDesk support: ext. 4820, Monday to Friday 08:00–19:00 CET.",
             "docs/finance/travel-booking-tripdesk.md"),
]


def test_answer_rows_are_the_served_draft_prompt_with_a_target_the_check_accepts(ingested_example):
    finance = slmguild.load_guild(ingested_example).expert("finance")
    examples, counts = grounded_examples(finance, QUESTIONS, distractor_share=0.0,
                                         held_out={"docs/finance/travel-booking-tripdesk.md"})
    assert counts.answered == len(examples) == 3 and counts.not_in_notes == 0
    for example, question in zip(examples, QUESTIONS, strict=True):
        system, user, target = example.messages
        assert system.content == DRAFT_SYSTEM and user.content.startswith(f"Question: {question.text}\n\nNotes:\n- ")
        notes = user.content.split("Notes:\n", 1)[1].rsplit("\n\nReply with", 1)[0]
        assert target.role == "assistant"
        assert Evidence(notes.split("\n- "), question.text).check(target.content).passed
    assert [example.split for example in examples] == ["train", "train", "eval"]  # by the answer's document


def test_with_distractors_only_the_target_says_the_notes_do_not_answer(ingested_example):
    finance = slmguild.load_guild(ingested_example).expert("finance")
    examples, counts = grounded_examples(finance, QUESTIONS[:1], distractor_share=1.0)
    (distracted,) = [example for example in examples if example.messages[-1].content == NOT_IN_NOTES]
    assert counts.not_in_notes == 1
    assert "230 EUR" not in distracted.messages[1].content  # London's limit is in the answer's document only
    assert "hotel limit london" in distracted.messages[1].content


def test_a_tool_step_row_never_shows_its_own_request(ingested_example):
    it = slmguild.load_guild(ingested_example).expert("it")
    examples = tool_step_examples(it)
    assert len(examples) == len(it.demonstrations.items)
    for example, item in zip(examples, it.demonstrations.items, strict=True):
        *prompt, asked, step = example.messages
        assert asked.content.startswith(item.request[:20]) and step.content == item.step()
        assert item.request not in [message.content for message in prompt]
        assert json.loads(step.content)["action"]


def test_finetune_data_work_writes_a_split_dataset_and_says_what_it_left_out(ingested_example, tmp_path):
    rows = tmp_path / "questions.jsonl"
    rows.write_text("\n".join(json.dumps({"question": q.text, "answer": q.answer, "source": q.source,
                                          "expert": "finance"}) for q in QUESTIONS)
                    + "\n" + json.dumps({"question": "how do I reset my VPN password?", "answer": "x", "expert": "it"}))
    out = tmp_path / "finance.jsonl"
    result = CliRunner().invoke(app, ["finetune", "data", "work", "-e", "finance", "-g", str(ingested_example),
                                      "-q", str(rows), "-o", str(out), "--distractors", "0"])
    assert result.exit_code == 0, result.output
    examples = load_examples(out)
    steps = [e for e in examples if e.messages[-1].content.startswith('{"action"')]
    assert len(examples) - len(steps) == 3 and steps  # the IT question is not finance's
    assert "3 answers" in result.output and "left out: 0 references" in result.output
