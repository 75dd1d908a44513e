"""Questions written by rules from an expert's documents (no teacher model), and their
trip through `finetune data work` on the example guild's real search."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from slmguild.cli import app
from slmguild.finetune import load_examples
from slmguild.finetune.document_questions import chunk_questions, echo_question
from slmguild.knowledge.chunks import Chunk


@pytest.mark.parametrize(("sentence", "question"), [
    ("Up to 5 unused days carry over to the next calendar year.",
     "Up to how many unused days carry over to the next calendar year?"),
    ("ACME matches your contributions up to 4% of your base salary.",
     "ACME matches your contributions up to what percentage of your base salary?"),
    ("The limit is 230 EUR per night, including breakfast.", "The limit is how much per night, including breakfast?"),
    ("Carried-over days must be used by 31 March of the next year.",
     "Carried-over days must be used by what date of the next year?"),
    ("The desk is open Monday to Friday 08:00–19:00 CET.", "The desk is open Monday to Friday what time CET?"),
    ("3 times their annual base salary is covered.", "How many times their annual base salary is covered?"),
])
def test_a_sentence_with_a_figure_becomes_a_question_that_asks_for_it(sentence, question):
    assert echo_question(sentence) == question


@pytest.mark.parametrize("sentence", [
    "Submit the request in PeopleHub before you leave.",  # no figure
    "Call ext. 4357 and press 9 for the on-call engineer.",  # a number that counts nothing
    "Version 2 and later releases are supported.",  # "and later releases" is no unit
])
def test_a_sentence_without_a_figure_it_can_ask_gives_no_question(sentence):
    assert echo_question(sentence) is None


def test_headings_tables_and_list_intros_are_not_asked_and_overlapping_chunks_ask_once():
    text = ("## Carry-over\n\n| City | Limit |\n|---|---|\n| Paris | 200 EUR |\n\n"
            "For every transaction you must, within 30 days:\n- Up to **5 unused days** carry over.")
    chunk = Chunk("docs/hr/leave.md", 0, text, "Leave", "Carry-over", "f", "c")
    asked = chunk_questions([chunk, chunk])
    assert [(q.text, q.answer, q.source) for q in asked] == [
        ("Up to how many unused days carry over?", "Up to 5 unused days carry over.", "docs/hr/leave.md")]


def test_the_questions_of_an_experts_documents_become_its_work_rows(ingested_example, tmp_path):
    questions, work = tmp_path / "questions.jsonl", tmp_path / "work.jsonl"
    runner = CliRunner()
    written = runner.invoke(app, ["finetune", "data", "questions", "-e", "finance", "-g", str(ingested_example),
                                  "-o", str(questions), "--show", "2"])
    assert written.exit_code == 0, written.output
    rows = [json.loads(line) for line in questions.read_text().splitlines()]
    assert len(rows) >= 40 and {row["expert"] for row in rows} == {"finance"}
    assert all(row["source"].startswith("docs/finance/") and "?" in row["question"] for row in rows)
    provided_meal = next(row for row in rows if "provided lunch" in row["question"])
    assert "deduct how much per provided lunch" in provided_meal["question"] and "15 EUR" in provided_meal["answer"]
    some = rows[::4]  # every document's, fewer searches
    questions.write_text("".join(json.dumps(row) + "\n" for row in some))
    made = runner.invoke(app, ["finetune", "data", "work", "-e", "finance", "-g", str(ingested_example),
                               "-q", str(questions), "-o", str(work), "--no-steps", "--distractors", "0"])
    assert made.exit_code == 0, made.output
    # Each answer is a sentence of the documents: the search finds it and the check accepts it.
    assert len(load_examples(work)) >= 0.9 * len(some)
