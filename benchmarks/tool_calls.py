"""Tool calling on a small model: constrained (JSON schema) vs native, side by side.

Each prompt of the example guild's labelled set (`examples/acme/tool_prompts.jsonl`:
prompt, expert, expected tool or null, expected arguments) goes to its expert, whose
tool phase (choices, retries with feedback, the real tools on a scratch database) runs
in each mode, one after the other for each prompt, greedy; the answer itself is not
generated. The modes: constrained decoding where the nearest labelled request decides
whether to call (`tool_choice: nearest`, the default), constrained decoding where the
model decides (`tool_choice: model`), and the backend's native tool calling. Prints a
markdown table: replies that were valid steps, the first tool that ran and its
arguments (see `same` for what counts as the same argument), tools run on prompts that
need none, and the tool phase's latency.

    python benchmarks/tool_calls.py [--guild examples/acme/guild.yaml] [--limit N] [--shown K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import slmguild
from slmguild.agents import Expert, ToolResult
from slmguild.evaluation.metrics import rouge_l
from slmguild.serving.catalog import gguf_path
from slmguild.tools import Observation
from slmguild.tools.steps import argument_schema

ROOT = Path(__file__).resolve().parents[1]
FREE_TEXT_MATCH = 0.5  # ROUGE-L F1 from which a free-text argument says what the label says
# (label, tool_calling, tool_choice)
MODES = (
    ("constrained, nearest decides", "constrained", "nearest"),
    ("constrained, model decides", "constrained", "model"),
    ("native", "native", "model"),
)


def same(expected: Any, actual: Any, spec: dict[str, Any]) -> bool:
    """Argument equality as a person would judge it, `spec` being the argument's schema.

    A left-out argument has its default; numbers agree to 1e-6; free text (a ticket's
    summary: no enum, pattern or format) says the same when its ROUGE-L F1 with the
    label reaches FREE_TEXT_MATCH; anything else is compared regardless of case and spacing.
    """
    if actual is None:
        actual = spec.get("default")
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) < 1e-6
    if spec.get("type") == "string" and not {"enum", "pattern", "format", "const"} & spec.keys():
        return rouge_l(str(actual or ""), str(expected)) >= FREE_TEXT_MATCH
    return str(expected).strip().lower() == str(actual).strip().lower()


async def tool_phase(expert: Expert, prompt: str) -> tuple[list[Observation], float]:
    started = time.perf_counter()
    observations = [event.observation async for event in expert.tool_phase(prompt) if isinstance(event, ToolResult)]
    return observations, time.perf_counter() - started


def score(case: dict[str, Any], observations: list[Observation], expert: Expert) -> dict[str, Any]:
    ran = [o for o in observations if o.status in ("ok", "error")]  # the tool really ran
    first = ran[0] if ran else None
    right_tool = first is not None and first.tool == case["tool"]
    right_args = False
    if first is not None and right_tool:
        specs = argument_schema(expert.parser.tools[first.tool]).get("properties", {})
        right_args = all(
            same(value, first.arguments.get(key), specs.get(key, {})) for key, value in case["arguments"].items()
        )
    return {
        "calls": len(observations),
        "valid_calls": sum(o.status not in ("invalid", "unknown") for o in observations),
        "right_tool": right_tool,
        "right_args": right_args,
        "called": bool(ran),
    }


def share(rows: list[dict[str, Any]], key: str) -> str:
    """`hits/total (percent)` of the rows where `key` is true."""
    hits = sum(row[key] for row in rows)
    return f"{hits}/{len(rows)} ({hits / max(len(rows), 1):.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guild", default=str(ROOT / "examples/acme/guild.yaml"))
    parser.add_argument("--prompts", default=str(ROOT / "examples/acme/tool_prompts.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    parser.add_argument("--shown", type=int, default=None, help="demonstrations shown (default: the guild's)")
    args = parser.parse_args()
    # The tools really run, and create_ticket writes: into a scratch database.
    os.environ["ACME_DB"] = str(Path(tempfile.mkdtemp(prefix="slmguild-bench-")) / "acme.sqlite")
    cases = [json.loads(line) for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    cases = cases[: args.limit or None]

    config = slmguild.load_config(args.guild)
    config.defaults.generation.temperature = 0  # greedy: the figures are reproducible
    guilds = {}
    for mode, tool_calling, tool_choice in MODES:
        for expert in config.experts.values():
            expert.tool_calling, expert.tool_choice = tool_calling, tool_choice
            if args.shown is not None:
                expert.demonstrations = args.shown
        guilds[mode] = slmguild.Guild(config.model_copy(deep=True))

    rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode, *_ in MODES}
    for case in cases:
        for mode in rows:
            expert = guilds[mode].expert(case["expert"])
            observations, seconds = asyncio.run(tool_phase(expert, case["prompt"]))
            rows[mode].append({**score(case, observations, expert), "seconds": seconds,
                               "needs_tool": case["tool"] is not None})

    needing = sum(case["tool"] is not None for case in cases)
    print(f"{len(cases)} prompts ({needing} need a tool, {len(cases) - needing} need none), "
          f"{gguf_path(config.defaults.name or '').name} on the embedded engine, greedy, tool phase of each turn, "
          f"{next(iter(config.experts.values())).demonstrations} demonstrations shown\n")
    print("| tool calling | schema-valid calls | correct tool | correct arguments "
          "| false calls (no-tool prompts) | tool phase p50 | tool phase p95 |")
    print("|---|---|---|---|---|---|---|")
    for mode, done in rows.items():
        tool_rows = [row for row in done if row["needs_tool"]]
        free_rows = [row for row in done if not row["needs_tool"]]
        latencies = sorted(row["seconds"] for row in done)
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]

        calls = sum(row["calls"] for row in done)
        valid = sum(row["valid_calls"] for row in done)
        print(f"| {mode} | {valid}/{calls} ({valid / max(calls, 1):.0%}) | {share(tool_rows, 'right_tool')} "
              f"| {share(tool_rows, 'right_args')} | {share(free_rows, 'called')} "
              f"| {statistics.median(latencies) * 1000:.0f} ms | {p95 * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
