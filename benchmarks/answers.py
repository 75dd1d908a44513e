"""Answers of the example guild, routed as a user asks, each answer strategy side by side.

Every question of a QA file (question, expert, key facts) goes through the whole guild
— routing, search, tools, answer — once per strategy (`answer.strategy`: generative,
grounded, extractive), question by question so that the strategies share the machine's
state, on one engine. Prints a markdown table, as a reader reads the answers: lead (every
key fact in the first sentence), correct (anywhere), median words, answers with an
unsupported figure (one that neither the question nor anything the expert's search or
tools returned holds), unanswerable questions answered honestly, answerable ones wrongly
refused, p50 time to the first token, p50/p95 turn latency and output tokens; with `--check`,
also how often the grounded check refused a draft that was right (false alarms).
Tools write to a scratch database.

    python benchmarks/answers.py [--data examples/acme/retrieval_questions.jsonl] [--limit N]
                                 [--strategies generative,grounded,extractive] [--check] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("generative", "grounded", "extractive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guild", type=Path, default=ROOT / "examples/acme/guild.yaml")
    parser.add_argument("--data", type=Path, nargs="+", default=[ROOT / "examples/acme/retrieval_questions.jsonl"])
    parser.add_argument("--limit", type=int, help="a seeded sample of N questions (every expert kept)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--check", action="store_true", help="also count the check's false alarms")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    os.environ.setdefault("ACME_DB", str(Path(tempfile.mkdtemp()) / "acme.sqlite"))

    from slmguild.config import load_config
    from slmguild.evaluation import ask, draft_counts, reference_rows, summarize
    from slmguild.evaluation.data import read_jsonl
    from slmguild.knowledge import KnowledgeBase
    from slmguild.orchestrator import Guild

    rows = [row for path in args.data for row in read_jsonl(path, ["question"])
            if row.get("keys") or row.get("unanswerable")]
    if args.limit:
        rows = random.Random(0).sample(rows, min(args.limit, len(rows)))
    questions = reference_rows(rows)
    strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    base = load_config(args.guild)
    knowledge = KnowledgeBase(base)
    knowledge.ingest()  # incremental: a no-op once the stores are built
    guilds = {
        name: Guild(load_config(args.guild, {"answer": {"strategy": name}}), knowledge=knowledge)
        for name in strategies
    }
    answered: dict[str, list[Any]] = {name: [] for name in strategies}
    for index, item in enumerate(questions, 1):
        for name, guild in guilds.items():
            answer = ask(guild, item)
            answered[name].append(answer)
        print(f"\r{index}/{len(questions)}", end="", flush=True, file=sys.stderr)
    figures = {}
    for name, items in answered.items():
        report = summarize(items)
        figures[name] = {
            "questions": len(items),
            "unanswerable": sum(item.unanswerable for item in items),
            "lead": report.lead,
            "correct": report.correct,
            "median_words": report.median_words,
            "honest": report.honest,
            "wrongly_refused": report.wrongly_refused,
            "first_token_p50_s": report.first_token_p50_s,
            "unsupported_figures": report.unsupported,
            "p50_s": report.p50_s,
            "p95_s": report.p95_s,
            "output_tokens": report.output_tokens,
        }
        if args.check and name == "grounded":
            figures[name]["check"] = asdict(draft_counts(items))
    print(file=sys.stderr)
    if args.json:
        print(json.dumps({"data": [str(p) for p in args.data], "strategies": figures}, indent=2))
        return
    print(f"data: {', '.join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in args.data)}, "
          f"{len(questions)} questions ({figures[strategies[0]]['unanswerable']} unanswerable), routed\n")
    print("| strategy | lead | correct | median words | unsupported figure | unanswerable honest | wrongly refused "
          "| p50 first token | p50 turn | p95 turn | output tokens |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for name, row in figures.items():
        print(f"| {name} | {share(row['lead'])} | {share(row['correct'])} | {row['median_words']:.0f} "
              f"| {row['unsupported_figures']:.1%} | {share(row['honest'])} | {share(row['wrongly_refused'])} "
              f"| {row['first_token_p50_s']:.2f} s | {row['p50_s']:.2f} s | {row['p95_s']:.2f} s "
              f"| {row['output_tokens']:.0f} |")
    if check := figures.get("grounded", {}).get("check"):
        print(f"\ngrounded check: {check['drafts']} drafts, {check['shown']} shown ({check['shown_without_keys']} of them "
              f"without the key facts); of {check['right_drafts']} drafts "
              f"that stated the key facts without a made-up figure, {check['false_alarms']} were refused (false alarms)")


if __name__ == "__main__":
    main()
