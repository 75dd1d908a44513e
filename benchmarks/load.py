"""Concurrent sessions through the async library API, with a scripted model (no model
time): what the framework sustains, and what a turn costs under load.

    python benchmarks/load.py [--sessions 50] [--turns 3]

The example guild (routing with the real embedder; retrieval and tools off, as in
benchmarks/overhead.py), SQLite sessions. Side by side in one run: the same turns one
session after another, then all sessions at once (asyncio.gather over `arun`).
tests/reliability/test_load.py checks that nothing is lost and nothing crosses sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from model_free import model_free_guild

import slmguild

QUESTIONS = ["How do I reset my VPN password?", "How many days of annual leave do I get?",
             "What is the hotel limit in Berlin?"]


async def _conversation(guild: slmguild.Guild, session: str, turns: int, latencies: list[float]) -> None:
    for turn in range(turns):
        started = time.perf_counter()
        await guild.arun(QUESTIONS[turn % len(QUESTIONS)], session=session)
        latencies.append((time.perf_counter() - started) * 1000)


async def _run(
    guild: slmguild.Guild, prefix: str, sessions: int, turns: int, together: bool
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    started = time.perf_counter()
    names = [f"{prefix}{n}" for n in range(sessions)]
    if together:
        await asyncio.gather(*(_conversation(guild, name, turns, latencies) for name in names))
    else:
        for name in names:
            await _conversation(guild, name, turns, latencies)
    return time.perf_counter() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=3, help="turns per session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        total = args.sessions * args.turns
        guild = model_free_guild(Path(scratch) / "sessions.sqlite", replies=2 * total + 1)
        guild.run(QUESTIONS[0])  # load the embedder and the exemplars' centroids once
        rows = {}
        for label, together in (("one session after another", False), (f"{args.sessions} sessions at once", True)):
            seconds, latencies = asyncio.run(_run(guild, label[:3], args.sessions, args.turns, together))
            rows[label] = (total / seconds, statistics.median(latencies), statistics.quantiles(latencies, n=20)[18])
    print(f"{args.sessions} sessions x {args.turns} turns, scripted model, SQLite sessions\n")
    print("| how | turns/s | turn p50 | turn p95 |")
    print("|---|---|---|---|")
    for label, (throughput, p50, p95) in rows.items():
        print(f"| {label} | {throughput:.1f} | {p50:.1f} ms | {p95:.1f} ms |")


if __name__ == "__main__":
    main()
