"""Follow-ups in their conversations, with and without the question in context, side by
side in one run: each scripted conversation goes through a session of its own, and its
last turn is scored (routed, key facts anywhere and in the first sentence, the tool call;
topic changes: switched to the new topic's expert), with the turn's latency.

    python benchmarks/conversations.py [--data examples/acme/conversations_heldout.jsonl] [--limit N]

`routing.follow_ups` off is how the guild read a follow-up before: its own words only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

import slmguild
from slmguild.evaluation.conversations import conversation_quality, conversation_rows
from slmguild.evaluation.data import read_jsonl
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator.graph import CHECKPOINT_SERDE

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guild", type=Path, default=ROOT / "examples/acme/guild.yaml")
    parser.add_argument("--data", type=Path, default=ROOT / "examples/acme/conversations_heldout.jsonl")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    conversations = conversation_rows(read_jsonl(args.data, ["turns"]))[: args.limit]
    KnowledgeBase(slmguild.load_config(args.guild)).ingest()  # incremental: nothing to do when up to date
    reports = {}
    for follow_ups in (False, True):
        config = slmguild.load_config(args.guild, {"routing": {"follow_ups": follow_ups}})
        guild = slmguild.Guild(config, checkpointer=InMemorySaver(serde=CHECKPOINT_SERDE))
        reports[follow_ups] = conversation_quality(guild, conversations)
    follow_ups = sum(c.kind != "topic-change" for c in conversations)
    print(f"{args.data.name}: {len(conversations)} conversations, {follow_ups} ending in a follow-up, "
          f"{len(conversations) - follow_ups} in a change of topic\n")
    print("| follow-ups read | follow-ups routed | correct | in the first sentence | topic changes switched "
          "| tool calls right | last turn p50 |")
    print("|---|---|---|---|---|---|---|")
    for on, report in reports.items():
        cells = [report.follow_up_routed, report.follow_up_correct, report.follow_up_lead, report.switched,
                 report.tool_right]
        shown = " | ".join("-" if value is None else f"{value:.2f}" for value in cells)
        print(f"| {'in context' if on else 'own words only'} | {shown} | {report.p50_s:.2f} s |")


if __name__ == "__main__":
    main()
