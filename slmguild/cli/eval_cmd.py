"""`slmguild eval`: routing accuracy, retrieval recall@k/MRR, answer quality and follow-ups in
conversations, as a table."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from langgraph.checkpoint.memory import InMemorySaver
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from slmguild.cli.app import stderr
from slmguild.cli.turns import GuildOption
from slmguild.errors import ConfigError, SlmguildError
from slmguild.evaluation import (
    Judge,
    answer_quality,
    labelled_rows,
    reference_rows,
    retrieval_quality,
    routing_accuracy,
    sourced_rows,
)
from slmguild.evaluation.conversations import conversation_quality, conversation_rows
from slmguild.evaluation.data import read_jsonl
from slmguild.orchestrator import load_guild
from slmguild.orchestrator.graph import CHECKPOINT_SERDE

console = Console(highlight=False)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def evaluate(
    guild: GuildOption = Path("guild.yaml"),
    routing: Annotated[
        Path | None, typer.Option(help='Labelled requests, JSON lines {"text": ..., "expert": NAME or null}.')
    ] = None,
    retrieval: Annotated[
        Path | None, typer.Option(help='Questions, JSON lines {"question": ..., "expert": ..., "source": PATH}.')
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option(help='Questions with reference answers, JSON lines {"question": ..., "answer": ..., '
                          '"keys": [["ext. 4600", "4600"], ...]}; asked end to end, on the guild\'s models.'),
    ] = None,
    conversations: Annotated[
        Path | None,
        typer.Option(help='Scripted conversations, JSON lines {"kind": "follow-up"|"topic-change"|..., "turns": '
                          '[{"question": ..., "expert": ..., "keys": [[...]], "tool": {...}}, ...]}; each runs in '
                          'a session of its own and its last turn is scored.'),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Retrieval: chunks searched per question (recall@k).")] = 5,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Answers, conversations: only the first N (each turn is a model turn).")
    ] = None,
    judge: Annotated[bool, typer.Option(help="Answers: also rate them 1-5 with the guild's escalation model.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON instead of a table.")] = False,
) -> None:
    """Measure a guild on labelled data: routing accuracy, retrieval recall@1/recall@k/MRR,
    and answer quality as a reader reads it (lead: the key facts in the first sentence;
    correct: anywhere; wrongly refused; unanswerable questions — `"unanswerable": true` —
    answered honestly; answers with an unsupported figure; median words; first token and
    latency p50/p95; exact, contains, ROUGE-L, BLEU, optional judge); and follow-ups in
    their conversations (routed, correct, the tool call; topic changes switched)."""
    if routing is None and retrieval is None and answers is None and conversations is None:
        raise SlmguildError(
            "nothing to evaluate: give --routing, --retrieval, --answers and/or --conversations (JSON lines files)")
    # Conversations run in sessions: kept in memory, so that the session store is not touched.
    loaded = load_guild(guild, checkpointer=InMemorySaver(serde=CHECKPOINT_SERDE))
    figures: dict[str, Any] = {"guild": loaded.name}
    if routing is not None:
        requests = labelled_rows(read_jsonl(routing, ["text"]))
        with _progress("routing") as progress:
            routed = routing_accuracy(loaded.routing.router, requests, progress=progress)
        per_label = {label: {"correct": c, "total": t} for label, (c, t) in routed.per_label.items()}
        figures["routing"] = {"file": str(routing), "total": routed.total, "accuracy": routed.accuracy,
                              "per_label": per_label, "p50_ms": routed.p50_ms}
    if retrieval is not None:
        sourced = sourced_rows(read_jsonl(retrieval, ["question", "expert", "source"]))
        with _progress("retrieval") as progress:
            figures["retrieval"] = {"file": str(retrieval),
                                    **asdict(retrieval_quality(loaded.knowledge, sourced, k=k, progress=progress))}
    if answers is not None:
        rater = None
        if judge:
            if loaded.config.escalation is None:
                raise ConfigError(f"{guild}: --judge needs an escalation model (escalation:) to rate answers")
            rater = Judge(loaded.expert("escalation").model)  # the guild built it already
        questions = reference_rows(read_jsonl(answers, ["question"]))[:limit]
        with _progress("answers") as progress:
            quality = answer_quality(loaded, questions, judge=rater, progress=progress)
        figures["answers"] = {
            "file": str(answers), "total": len(questions), "keyed": sum(bool(q.keys) for q in questions),
            "unanswerable": sum(q.unanswerable for q in questions),
            "lead": quality.lead, "correct": quality.correct, "unsupported_figures": quality.unsupported,
            "median_words": quality.median_words, "honest": quality.honest, "wrongly_refused": quality.wrongly_refused,
            "first_token_p50_s": quality.first_token_p50_s,
            "p50_s": quality.p50_s, "p95_s": quality.p95_s, **(asdict(quality.scores) if quality.scores else {}),
        }
    if conversations is not None:
        scripted = conversation_rows(read_jsonl(conversations, ["turns"]))[:limit]
        with _progress("conversations") as progress:
            report = conversation_quality(loaded, scripted, progress=progress)
        kinds = Counter(conversation.kind for conversation in scripted)
        figures["conversations"] = {
            "file": str(conversations), "total": len(scripted), "follow_ups": len(scripted) - kinds["topic-change"],
            "topic_changes": kinds["topic-change"],
            **{key: value for key, value in asdict(report).items() if key != "last_turns"},
        }
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        console.print(_table(figures))


def _table(figures: dict[str, Any]) -> Table:
    table = Table(title=f"{figures['guild']}: evaluation")
    for column in ("measure", "metric", "value", "n"):
        table.add_column(column, justify="right" if column in ("value", "n") else "left")
    if routing := figures.get("routing"):
        table.add_row("routing", "accuracy", f"{routing['accuracy']:.3f}", str(routing["total"]))
        for label, counts in routing["per_label"].items():
            table.add_row("", f"  {label}", f"{counts['correct'] / counts['total']:.3f}", str(counts["total"]))
        table.add_row("", "p50 latency (ms)", f"{routing['p50_ms']:.1f}", "")
    if retrieval := figures.get("retrieval"):
        for metric, key in (("recall@1", "recall_at_1"), (f"recall@{retrieval['k']}", "recall_at_k"), ("MRR", "mrr")):
            table.add_row("retrieval", metric, f"{retrieval[key]:.3f}", str(retrieval["total"]))
    if answers := figures.get("answers"):
        if answers["correct"] is not None:
            table.add_row("answers", "lead (key facts in the first sentence)", f"{answers['lead']:.3f}",
                          str(answers["keyed"]))
            table.add_row("answers", "correct", f"{answers['correct']:.3f}", str(answers["keyed"]))
            table.add_row("answers", "wrongly refused", f"{answers['wrongly_refused']:.3f}", str(answers["keyed"]))
        if answers["honest"] is not None:
            table.add_row("answers", "unanswerable answered honestly", f"{answers['honest']:.3f}",
                          str(answers["unanswerable"]))
        table.add_row("answers", "unsupported figures", f"{answers['unsupported_figures']:.3f}", str(answers["total"]))
        table.add_row("answers", "median words", f"{answers['median_words']:.0f}", str(answers["total"]))
        table.add_row("answers", "p50 first token (s)", f"{answers['first_token_p50_s']:.2f}", "")
        table.add_row("answers", "p50 latency (s)", f"{answers['p50_s']:.2f}", "")
        for metric in ("exact", "contains", "rouge_l", "bleu", "judge"):
            if answers[metric] is not None:
                table.add_row("answers", metric, f"{answers[metric]:.3f}", str(answers["total"]))
    if talks := figures.get("conversations"):
        for metric, key, n in (("follow-ups routed", "follow_up_routed", "follow_ups"),
                               ("follow-ups correct", "follow_up_correct", "follow_ups"),
                               ("follow-ups lead", "follow_up_lead", "follow_ups"),
                               ("topic changes switched", "switched", "topic_changes"),
                               ("tool calls right", "tool_right", "total")):
            if talks[key] is not None:
                table.add_row("conversations", metric, f"{talks[key]:.3f}", str(talks[n]))
        table.add_row("conversations", "p50 latency of the last turn (s)", f"{talks['p50_s']:.2f}", "")
    return table
