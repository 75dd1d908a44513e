"""Serving overhead: slmguild's embedded backend vs calling xllamacpp directly.

Both paths run in this process, on the same GGUF, prompt and greedy settings, in
alternating rounds (this machine is noisy: only side-by-side ratios mean anything).
Prints a markdown table: generated tokens/s, time to first token, engine start-up,
resident memory.

    python benchmarks/serving.py [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import psutil
import xllamacpp

from slmguild.config import EngineConfig, ExpertConfig, Generation, GuildConfig, ModelSpec
from slmguild.orchestrator import Guild, Token
from slmguild.serving.catalog import gguf_path

PROMPT = "Explain in a few paragraphs how a company VPN works and why passwords expire."
MODEL = "smollm2-135m-instruct"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def timed_stream(stream: Callable[[Callable[[str], None]], None]) -> tuple[float, float, int]:
    """(time to first token s, generated tokens/s after the first, tokens) of one stream."""
    stamps: list[float] = []
    start = time.perf_counter()
    stream(lambda _text: stamps.append(time.perf_counter()))
    decode = stamps[-1] - stamps[0]
    return stamps[0] - start, (len(stamps) - 1) / decode if decode else 0.0, len(stamps)


def direct_server(path: str, threads: int) -> xllamacpp.Server:
    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = 4096
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1
    return xllamacpp.Server(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    path = str(gguf_path(MODEL))
    threads = os.cpu_count() or 1
    generation = Generation(temperature=0, max_tokens=args.max_tokens, seed=0)

    baseline = rss_mb()
    started = time.perf_counter()
    server = direct_server(path, threads)
    direct_start = time.perf_counter() - started
    direct_rss = rss_mb() - baseline

    guild = Guild(
        GuildConfig(
            name="bench",
            defaults=ModelSpec(backend="embedded", name=MODEL, generation=generation),
            engine=EngineConfig(threads=threads),
            experts={"it": ExpertConfig(description="IT", system_prompt="You are helpful.")},
        )
    )
    engine = guild.expert("it").model.engine
    before = rss_mb()
    started = time.perf_counter()
    engine.server  # noqa: B018  (start the lazy engine now, to time it)
    guild_start = time.perf_counter() - started
    guild_rss = rss_mb() - before

    # The same conversation for both: the expert's system prompt, then the question.
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": PROMPT}]
    request = {"messages": messages, "temperature": 0, "max_tokens": args.max_tokens, "seed": 0}

    def direct(on_token: Callable[[str], None]) -> None:
        def callback(chunk: dict) -> None:
            delta = chunk["choices"][0].get("delta", {}) if chunk.get("choices") else {}
            if delta.get("content"):
                on_token(delta["content"])

        engine.server.handle_chat_completions({**request, "stream": True}, callback)

    def through_slmguild(on_token: Callable[[str], None]) -> None:
        for event in guild.stream(PROMPT, expert="it"):
            if isinstance(event, Token):
                on_token(event.text)

    results: dict[str, list[tuple[float, float, int]]] = {"direct": [], "slmguild": []}
    timed_stream(direct), timed_stream(through_slmguild)  # warm-up: caches, allocations
    for _ in range(args.rounds):
        results["direct"].append(timed_stream(direct))
        results["slmguild"].append(timed_stream(through_slmguild))

    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in results[name])

    ratio = median("slmguild", 1) / median("direct", 1)
    print(f"{gguf_path(MODEL).name}, {threads} threads, {args.max_tokens} max tokens, "
          f"greedy, median of {args.rounds} alternating rounds\n")
    print("| path | generated tok/s | time to first token | engine start-up | resident memory of the engine |")
    print("|---|---|---|---|---|")
    print(f"| xllamacpp direct | {median('direct', 1):.1f} | {median('direct', 0) * 1000:.0f} ms "
          f"| {direct_start:.2f} s | {direct_rss:.0f} MB |")
    print(f"| slmguild (Guild.stream, embedded) | {median('slmguild', 1):.1f} "
          f"| {median('slmguild', 0) * 1000:.0f} ms | {guild_start:.2f} s | {guild_rss:.0f} MB |")
    print(f"\nslmguild / direct tokens/s: {ratio:.1%} (target >= 95%); "
          f"tokens per answer: {median('direct', 2):.0f} direct, {median('slmguild', 2):.0f} slmguild; "
          f"process RSS {rss_mb():.0f} MB")
    del server


if __name__ == "__main__":
    main()
