"""Tool calling on a small model: constrained (JSON schema) vs native, side by side.

Each prompt of the example guild's labelled set (`examples/acme/tool_prompts.jsonl`:
prompt, expert, expected tool or null, expected arguments) goes to its expert, whose
first decision is taken once with constrained decoding and once with the backend's
native tool calling, alternating, greedy. Prints a markdown table.

    python benchmarks/tool_calls.py [--guild examples/acme/guild.yaml] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import slmguild
from slmguild.agents import Expert

ROOT = Path(__file__).resolve().parents[1]
MODES = ("constrained", "native")


def same(expected: Any, actual: Any) -> bool:
    """Argument equality as a person would judge it: case and spacing of strings, 1e-6 on numbers."""
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) < 1e-6
    return str(expected).strip().lower() == str(actual).strip().lower()


async def decide(expert: Expert, prompt: str) -> tuple[list, str, float]:
    started = time.perf_counter()
    calls, _reply, problem = await expert.choose_step(expert.step_messages(prompt))
    return calls, problem, time.perf_counter() - started


def score(expert: Expert, case: dict[str, Any], calls: list, problem: str) -> dict[str, bool]:
    tools = {item.name: item for item in expert.tools}
    valid = not problem
    for _id, name, arguments in calls:
        try:
            tools[name].tool_call_schema.model_validate(arguments)
        except (KeyError, ValidationError):
            valid = False
    chosen = calls[0][1] if calls else None
    arguments = calls[0][2] if calls else {}
    right_tool = chosen == case["tool"]
    return {
        "valid": valid,
        "right_tool": right_tool,
        "right_args": right_tool
        and all(same(value, arguments.get(key)) for key, value in case["arguments"].items()),
        "called": bool(calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guild", default=str(ROOT / "examples/acme/guild.yaml"))
    parser.add_argument("--prompts", default=str(ROOT / "examples/acme/tool_prompts.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    args = parser.parse_args()
    cases = [json.loads(line) for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    cases = cases[: args.limit or None]

    config = slmguild.load_config(args.guild)
    config.defaults.generation.temperature = 0  # greedy: the figures are reproducible
    guilds = {}
    for mode in MODES:
        for expert in config.experts.values():
            expert.tool_calling = mode
        guilds[mode] = slmguild.Guild(config.model_copy(deep=True))

    rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for case in cases:
        for mode in MODES:
            expert = guilds[mode].expert(case["expert"])
            calls, problem, seconds = asyncio.run(decide(expert, case["prompt"]))
            rows[mode].append({**score(expert, case, calls, problem), "seconds": seconds,
                               "needs_tool": case["tool"] is not None})

    needing = sum(case["tool"] is not None for case in cases)
    print(f"{len(cases)} prompts ({needing} need a tool, {len(cases) - needing} need none), "
          f"SmolLM2-135M-Instruct Q4_1 on the embedded engine, greedy, first decision of each turn\n")
    print("| tool calling | schema-valid replies | correct tool | correct arguments "
          "| false calls (no-tool prompts) | latency p50 | latency p95 |")
    print("|---|---|---|---|---|---|---|")
    for mode in MODES:
        done = rows[mode]
        tool_rows = [row for row in done if row["needs_tool"]]
        free_rows = [row for row in done if not row["needs_tool"]]
        latencies = sorted(row["seconds"] for row in done)
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]

        def share(part: list, key: str) -> str:
            return f"{sum(row[key] for row in part)}/{len(part)} ({sum(row[key] for row in part) / max(len(part), 1):.0%})"

        print(f"| {mode} | {share(done, 'valid')} | {share(tool_rows, 'right_tool')} "
              f"| {share(tool_rows, 'right_args')} | {share(free_rows, 'called')} "
              f"| {statistics.median(latencies) * 1000:.0f} ms | {p95 * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
