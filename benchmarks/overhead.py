"""Framework overhead per turn: everything a turn costs except the model's own time.

    python benchmarks/overhead.py [--turns 200] [--embedder all-minilm-l6-v2-int8]

The example guild's experts answer with a scripted model (a fixed reply, streamed word
by word: no model time), so what is measured is slmguild: the LangGraph graph, routing
(the real MiniLM embedder and the trained router; the exemplar centroids too, as one
more case), the event stream and, with a session, the
SQLite checkpoints. Retrieval is switched off (it is measured by benchmarks/retrieval.py).
Side by side in one run: a forced expert (no routing) and a routed turn, each with and
without a saved session (conversations of 20 turns), and one conversation that grows to
all the turns (a checkpoint re-serializes the whole conversation: its cost grows with it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from model_free import model_free_guild

QUESTIONS = [
    "How do I reset my VPN password?",
    "How many days of annual leave do I get?",
    "What is the hotel limit in Berlin?",
    "My laptop screen is broken",
]
CONVERSATION_TURNS = 20  # saved sessions are conversations of this many turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--embedder", help="a catalog ONNX embedder instead of the guild's, to compare its cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        guild = model_free_guild(Path(scratch) / "sessions.sqlite", replies=args.turns * 5 + 10,
                                 embedder=args.embedder)
        by_centroids = model_free_guild(Path(scratch) / "centroids.sqlite", replies=args.turns + 10, centroids=True,
                                        embedder=args.embedder)
        for loaded in (guild, by_centroids):
            loaded.run(QUESTIONS[0])  # load the embedder, the router and the centroids once
        times: dict[str, list[float]] = {}
        for turn in range(args.turns):  # interleaved, so that noise hits every case alike
            conversation = f"c{turn // CONVERSATION_TURNS}"
            cases = {
                "forced expert, no session": {"expert": "it"},
                "forced expert, saved session": {"expert": "it", "session": f"forced-{conversation}"},
                "routed, no session": {},
                "routed, saved session": {"session": f"routed-{conversation}"},
                "routed, one session of all the turns": {"session": "long"},
            }
            for case, options in cases.items():
                started = time.perf_counter()
                guild.run(QUESTIONS[turn % len(QUESTIONS)], **options)
                times.setdefault(case, []).append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            by_centroids.run(QUESTIONS[turn % len(QUESTIONS)])
            times.setdefault("routed by the exemplar centroids, no session", []).append(
                (time.perf_counter() - started) * 1000
            )
    print(f"{args.turns} turns per case, scripted model (no model time)\n")
    print("| turn | p50 | p95 |")
    print("|---|---|---|")
    for case, values in times.items():
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"| {case} | {statistics.median(values):.2f} ms | {p95:.2f} ms |")


if __name__ == "__main__":
    main()
