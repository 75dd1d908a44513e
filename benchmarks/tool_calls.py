"""Tool calling on a small model: constrained (JSON schema) vs native, side by side.

Each prompt of the example guild's labelled set (`examples/acme/tool_prompts.jsonl`:
prompt, expert, expected tool or null, expected arguments) goes to its expert, whose
tool phase (choices, retries with feedback, the real tools on a scratch database) runs
in each mode, one after the other for each prompt, greedy; the answer itself is not
generated. The modes: constrained decoding where the nearest labelled request decides
whether to call (`tool_choice: nearest`, the default), constrained decoding where the
model decides (`tool_choice: model`), and the backend's native tool calling. Prints a
markdown table: replies that were valid steps, the first tool that ran and its
arguments (see `slmguild.evaluation.tool_calls.same` for what counts as the same
argument), tools run on prompts that need none, and the tool phase's latency.

    python benchmarks/tool_calls.py [--guild examples/acme/guild.yaml] [--limit N] [--shown K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

import slmguild
from slmguild.evaluation.tool_calls import (
    ToolOutcome,
    ToolReport,
    run_tool_case,
    tool_case_rows,
)
from slmguild.serving.catalog import gguf_path

ROOT = Path(__file__).resolve().parents[1]
# (label, tool_calling, tool_choice)
MODES = (
    ("constrained, nearest decides", "constrained", "nearest"),
    ("constrained, model decides", "constrained", "model"),
    ("native", "native", "model"),
)


def share(hits: int, total: int) -> str:
    """`hits/total (percent)`."""
    return f"{hits}/{total} ({hits / max(total, 1):.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guild", default=str(ROOT / "examples/acme/guild.yaml"))
    parser.add_argument("--prompts", default=str(ROOT / "examples/acme/tool_prompts.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    parser.add_argument("--shown", type=int, default=None, help="demonstrations shown (default: the guild's)")
    args = parser.parse_args()
    # The tools really run, and create_ticket writes: into a scratch database.
    os.environ["ACME_DB"] = str(Path(tempfile.mkdtemp(prefix="slmguild-bench-")) / "acme.sqlite")
    rows = [json.loads(line) for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    cases = tool_case_rows(rows[: args.limit or None])

    config = slmguild.load_config(args.guild)
    config.defaults.generation.temperature = 0  # greedy: the figures are reproducible
    guilds = {}
    for mode, tool_calling, tool_choice in MODES:
        for expert in config.experts.values():
            expert.tool_calling, expert.tool_choice = tool_calling, tool_choice
            if args.shown is not None:
                expert.demonstrations = args.shown
        guilds[mode] = slmguild.Guild(config.model_copy(deep=True))

    outcomes: dict[str, list[ToolOutcome]] = {mode: [] for mode, *_ in MODES}
    for case in cases:  # every mode on one prompt after the other: noise hits them alike
        for mode, done in outcomes.items():
            done.append(asyncio.run(run_tool_case(guilds[mode].expert(case.expert), case)))

    needing = sum(case.tool is not None for case in cases)
    print(f"{len(cases)} prompts ({needing} need a tool, {len(cases) - needing} need none), "
          f"{gguf_path(config.defaults.name or '').name} on the embedded engine, greedy, tool phase of each turn, "
          f"{next(iter(config.experts.values())).demonstrations} demonstrations shown\n")
    print("| tool calling | schema-valid calls | correct tool | correct arguments "
          "| false calls (no-tool prompts) | tool phase p50 | tool phase p95 |")
    print("|---|---|---|---|---|---|---|")
    for mode, done in outcomes.items():
        report = ToolReport(done)
        latencies = sorted(item.seconds for item in done)
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        calls = sum(item.calls for item in done)
        valid = sum(item.valid_calls for item in done)
        print(f"| {mode} | {share(valid, calls)} | {share(report.right_tool, len(report.needing))} "
              f"| {share(report.right_arguments, len(report.needing))} "
              f"| {share(report.false_calls, len(report.needing_none))} "
              f"| {report.p50_s * 1000:.0f} ms | {p95 * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
