"""The evaluation harness: answer metrics, the judge, routing and retrieval figures
(exact, with scripted models and the example guild's real embedder)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from slmguild.cli import app
from slmguild.config import load_config
from slmguild.evaluation import (
    Judge,
    Labelled,
    SourcedQuestion,
    bleu,
    contains_facts,
    key_facts,
    retrieval_quality,
    rouge_l,
    routing_accuracy,
    score_answers,
)
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator import Guild
from slmguild.testing import ScriptedModel


def test_rouge_l_is_the_f1_of_the_longest_common_word_subsequence():
    assert rouge_l("Call ext. 4357 now", "Call ext. 4357 now") == 1.0
    # LCS "call 4357" = 2 words: precision 2/3, recall 2/4 -> F1 4/7
    assert rouge_l("call IT 4357", "Call the desk 4357") == pytest.approx(4 / 7)
    assert rouge_l("nothing shared", "Paris.") == 0.0
    assert rouge_l("", "Paris.") == 0.0


def test_bleu_is_sacrebleu_corpus_bleu():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100)
    assert bleu(["a dog ran"], ["the cat sat on the mat"]) == 0.0
    assert 0 < bleu(["the cat sat on a mat today"], ["the cat sat on the mat"]) < 100
    assert bleu([], []) == 0.0


def test_key_facts_are_numbers_urls_and_addresses_else_the_whole_reference():
    reference = "Go to https://selfservice.acme.example/vpn or call ext. 4357."
    assert key_facts(reference) == ["https://selfservice.acme.example/vpn", "4357"]
    assert key_facts("Paris.") == ["paris"]
    assert contains_facts("The capital is Paris, of course.", "Paris.")
    assert contains_facts("Call 4357, then visit https://selfservice.acme.example/vpn.", reference)
    assert not contains_facts("Call 4357.", reference)


def test_answer_scores_are_means_over_the_answers():
    result = score_answers(["Rome.", "It is Paris", "Lyon"], ["Rome", "Paris.", "Madrid."], ratings=[5, 4, 1])
    assert (result.exact, result.contains, result.judge) == (pytest.approx(1 / 3), pytest.approx(2 / 3), 10 / 3)


def test_the_judge_rates_under_a_schema_with_the_rubric_and_the_reference():
    model = ScriptedModel(replies=[json.dumps({"score": 4, "reason": "gives the URL"})])
    rating = Judge(model).rate("How do I reset it?", "Use the portal.", rubric="Gives the URL.", reference="https://x")
    assert (rating.score, rating.reason) == (4, "gives the URL")
    request = model.requests[0]
    assert "Rubric: Gives the URL." in request["messages"][0].text
    assert "Reference answer: https://x" in request["messages"][1].text
    assert request["response_format"]["json_schema"]["schema"]["properties"]["score"]["maximum"] == 5
    model.assert_all_used()


def test_routing_accuracy_counts_per_label_with_nobody_for_out_of_scope(example_guild):
    guild = Guild(load_config(example_guild))
    rows = [
        Labelled("How do I reset my VPN password?", "it"),
        Labelled("How many days of annual leave do I get?", "hr"),
        Labelled("What is the hotel limit in Berlin?", "finance"),
        Labelled("What is the hotel limit in Berlin?", "hr"),  # a wrong label: one mistake
        Labelled("Write me a poem about the sea", None),
    ]
    report = routing_accuracy(guild.routing.embedding_router, rows)
    assert (report.total, report.correct) == (5, 4) and report.accuracy == 0.8
    assert report.per_label["hr"] == (1, 2) and report.per_label["(nobody)"] == (1, 1)
    assert report.mistakes == [("What is the hotel limit in Berlin?", "hr", "finance")]


def test_retrieval_quality_ranks_the_source_among_documents(ingested_example):
    base = KnowledgeBase(load_config(ingested_example))
    rows = [
        SourcedQuestion("How do I reset my VPN password?", "it", "docs/it/vpn-password-reset.md"),
        SourcedQuestion("How do I reset my VPN password?", "it", "docs/it/printing.md"),
    ]
    report = retrieval_quality(base, rows, k=3)
    assert report.total == 2 and report.recall_at_1 == 0.5 and report.recall_at_k == 0.5
    assert report.mrr == 0.5


def test_slmguild_eval_prints_json_figures_and_names_a_bad_line(ingested_example, tmp_path):
    routing = tmp_path / "routing.jsonl"
    routing.write_text('{"text": "How do I reset my VPN password?", "expert": "it"}\n'
                       '{"text": "Write me a poem about the sea", "expert": null}\n', encoding="utf-8")
    retrieval = tmp_path / "retrieval.jsonl"
    retrieval.write_text('{"question": "How do I reset my VPN password?", "expert": "it", '
                         '"source": "docs/it/vpn-password-reset.md"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "-g", str(ingested_example), "--routing", str(routing),
                                      "--retrieval", str(retrieval), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["routing"]["accuracy"] == 1.0 and figures["routing"]["per_label"]["(nobody)"]["total"] == 1
    assert figures["retrieval"]["recall_at_1"] == 1.0 and figures["retrieval"]["k"] == 5

    routing.write_text('{"text": "fine"}\n{"txt": "typo"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "-g", str(ingested_example), "--routing", str(routing)])
    assert result.exit_code == 2
    assert "routing.jsonl:2: each line is an object with text (missing: text)" in result.output


@pytest.mark.integration
def test_slmguild_eval_scores_the_guilds_answers_end_to_end(ingested_example):
    questions = ingested_example.parent / "retrieval_questions.jsonl"
    result = CliRunner().invoke(app, ["eval", "-g", str(ingested_example), "--answers", str(questions),
                                      "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)["answers"]
    assert answers["total"] == 2 and answers["judge"] is None
    assert all(0 <= answers[metric] <= 1 for metric in ("exact", "contains", "rouge_l"))
    assert 0 <= answers["bleu"] <= 100
