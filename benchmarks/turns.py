"""Where a turn's time goes on this machine, and how far it is from what the engine needs.

The example guild answers as a user asks it (routed, each turn in a saved session):
single-expert questions — a seeded sample of the held-out QA questions and of the
held-out tool requests — and two-expert requests (`turns_two_experts.jsonl`, written from
the documents alone). Each setup runs in a process of its own, and the setups take turns
question by question, so that the machine's noise hits them alike:

- `now`: this checkout and its guild file (with `--slots N...`, once per number of
  engine slots, each slot with the example's 4096-token context);
- `before` (with `--before PATH`): another checkout of slmguild, e.g. the commit this
  work started from (`git worktree add /tmp/before aa1cb12`), with its own guild file.

For every turn: the time to the first token the caller receives (`Guild.stream`), the
whole turn, and its steps from the trace — routing, retrieval, tool decisions, the
answer, and in them the engine's prompt evaluation and generation (its own timings);
"checks" is the answer's time besides the engine (passage selection, the check); "saving"
is the rest (the graph and the session's checkpoint), in a turn the guild answered in one
piece (it may split a question between experts). The floor is what the raw engine
needs for the same work: each of the turn's model calls replayed with as many prompt
tokens (those it evaluated, not those it reused from its cache) and generated tokens,
without grammar or anything around it; the ratio is turn / floor. A two-expert turn's
floor is its parts' floors one after the other.

    python benchmarks/turns.py [--questions 20] [--tools 8] [--two-experts 10] [--slots 1 2]
                               [--before PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACME = ROOT / "examples/acme"
REPLAY_TOKEN = 1000  # any ordinary token: the engine's time does not depend on which


@dataclass
class Turn:
    """One measured turn: its kind, times in seconds, and the trace's breakdown."""

    kind: str  # "single" or "two experts"
    split: bool  # the guild answered it in parts, one per expert
    ttft: float
    seconds: float
    floor: float
    steps: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)


def requests(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(kind, message) for every turn, seeded."""
    from slmguild.evaluation.data import read_jsonl

    pick = random.Random(0)
    questions = [row["question"] for row in read_jsonl(ACME / "answers_heldout.jsonl", ["question"])]
    # A call that waits for the user's approval is not a turn the machine finishes alone.
    tools = [row["prompt"] for row in read_jsonl(ACME / "tool_prompts_heldout.jsonl", ["prompt"])
             if row.get("tool") not in (None, "create_ticket")]
    pairs = [row["question"] for row in read_jsonl(ACME / "turns_two_experts.jsonl", ["question"])]
    chosen = [("single", q) for q in pick.sample(questions, min(args.questions, len(questions)))]
    chosen += [("single", q) for q in pick.sample(tools, min(args.tools, len(tools)))]
    chosen += [("two experts", q) for q in pick.sample(pairs, min(args.two_experts, len(pairs)))]
    return chosen


def replay_floor(engine: Any, trace: Any) -> float:
    """Seconds the raw engine takes for the turn's model calls: the same prompt and output
    token counts, no cache, no grammar, nothing around it."""
    seconds = 0.0
    for part in trace.all_parts():
        for step in part.steps:
            if not step.engine:
                continue
            started = time.perf_counter()
            engine.server.handle_completions({
                "prompt": [REPLAY_TOKEN] * max(1, int(step.engine.get("prompt_n", 1))),
                "n_predict": int(step.engine.get("predicted_n", 0)),
                "ignore_eos": True, "cache_prompt": False, "temperature": 0,
            })
            seconds += time.perf_counter() - started
    return seconds


def measure(guild: Any, engine: Any, kind: str, message: str, session: str) -> Turn:
    """One turn through `guild.stream`, timed from the caller's side, with its breakdown."""
    from slmguild.orchestrator.events import Done, Token

    started = time.perf_counter()
    first = None
    reply = None
    for event in guild.stream(message, session=session):
        if isinstance(event, Token) and first is None:
            first = time.perf_counter()
        elif isinstance(event, Done):
            reply = event.reply
    finished = time.perf_counter()
    assert reply is not None, "a turn ends with Done"
    trace = reply.trace
    steps = {"route": trace.route.routing_s if trace.route else 0.0}
    tokens = {"prompt_n": 0.0, "cache_n": 0.0, "prompt_ms": 0.0, "predicted_n": 0.0, "predicted_ms": 0.0}
    for part in trace.all_parts():
        for step in part.steps:
            steps[step.step] = steps.get(step.step, 0.0) + step.seconds
            for key in tokens:
                tokens[key] += step.engine.get(key, 0.0)
    answer_engine = sum(
        (step.engine.get("prompt_ms", 0.0) + step.engine.get("predicted_ms", 0.0)) / 1000
        for part in trace.all_parts() for step in part.steps if step.step == "answer"
    )
    steps["checks"] = steps.get("answer", 0.0) - answer_engine
    seconds = finished - started
    # Parts run at the same time: only a turn in one piece adds up to its wall time.
    steps["saving"] = seconds - sum(steps.get(name, 0.0) for name in ("route", "retrieve", "tool_step", "answer"))
    return Turn(kind, bool(trace.parts), (first or finished) - started, seconds, replay_floor(engine, trace),
                steps, tokens)


def percentile(values: list[float], q: int) -> float:
    """The `q`th percentile (a multiple of 5) of `values`."""
    return statistics.quantiles(values, n=20)[q // 5 - 1] if len(values) > 1 else values[0]


def summary(turns: list[Turn]) -> dict[str, float]:
    """p50/p95 of TTFT and of the turn, the floor and the ratio (p50 of per-turn ratios)."""
    return {
        "turns": len(turns),
        "ttft_p50": statistics.median(t.ttft for t in turns),
        "ttft_p95": percentile([t.ttft for t in turns], 95),
        "turn_p50": statistics.median(t.seconds for t in turns),
        "turn_p95": percentile([t.seconds for t in turns], 95),
        "floor_p50": statistics.median(t.floor for t in turns),
        "ratio_p50": statistics.median(t.seconds / t.floor for t in turns if t.floor > 0),
    }


def breakdown(turns: list[Turn]) -> dict[str, float]:
    """Mean seconds per step of a single-expert turn, and the engine's tokens and speeds."""
    steps = ("route", "retrieve", "tool_step", "answer", "checks", "saving")
    if not turns:
        return {}
    result: dict[str, float] = {"turns": len(turns)}
    result |= {name: statistics.fmean(t.steps.get(name, 0.0) for t in turns) for name in steps}
    for kind in ("prompt", "predicted"):
        count = sum(t.tokens[f"{kind}_n"] for t in turns)
        ms = sum(t.tokens[f"{kind}_ms"] for t in turns)
        result[f"{kind}_tokens"] = count / len(turns)
        result[f"{kind}_per_s"] = 1000 * count / ms if ms else 0.0
    result["reused_tokens"] = statistics.fmean(t.tokens["cache_n"] for t in turns)
    return result


def serve_turns(overrides: dict[str, Any], scratch: Path) -> None:
    """The worker: load the example guild with `overrides`, then measure one turn per line
    of stdin (JSON: kind, message, session), answering each with the `Turn` as JSON.
    Runs in the checkout it measures, on that checkout's guild file."""
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever else prints goes to stderr
    from slmguild.config import load_config
    from slmguild.orchestrator import Guild
    from slmguild.serving import embedded_engine

    # Qdrant's local mode lets one process open a store: each worker ingests its own copy.
    config = load_config(Path("examples/acme/guild.yaml").resolve(), {**overrides, "sessions": {"store": str(scratch / "sessions.sqlite")},
                                               "knowledge": {"store": {"path": str(scratch / "knowledge")}}})
    guild = Guild(config)
    guild.knowledge.ingest()  # incremental: a no-op once the stores are built
    engine = embedded_engine(config.defaults, config.engine)
    guild.run("How do I reset my VPN password?")  # start the engine, load the embedder
    print(json.dumps("ready"), file=replies, flush=True)
    for line in sys.stdin:
        kind, message, session = json.loads(line)
        print(json.dumps(asdict(measure(guild, engine, kind, message, session))), file=replies, flush=True)


class Worker:
    """A setup measured in a process of its own (`checkout`: the slmguild source it imports)."""

    def __init__(self, checkout: Path, overrides: dict[str, Any], scratch: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(checkout), "ACME_DB": str(scratch / "acme.sqlite")}
        scratch.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(overrides), str(scratch)]
        self.process = subprocess.Popen(command, cwd=checkout, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._read()  # "ready"

    def measure(self, kind: str, message: str, session: str) -> Turn:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([kind, message, session]) + "\n")
        self.process.stdin.flush()
        return Turn(**self._read())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"a worker stopped (exit {self.process.wait()}): see its error above")
        return json.loads(line)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve_turns(json.loads(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20, help="held-out QA questions (single expert)")
    parser.add_argument("--tools", type=int, default=8, help="held-out tool requests (single expert)")
    parser.add_argument("--two-experts", type=int, default=10, help="two-expert requests")
    parser.add_argument("--slots", type=int, nargs="+", help="run `now` once per number of engine slots")
    parser.add_argument("--before", type=Path, help="another slmguild checkout, measured beside this one")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="slmguild-turns-"))
    setups: dict[str, tuple[Path, dict[str, Any]]] = {}
    if args.before:
        setups["before"] = (args.before.resolve(), {})
    for slots in args.slots or [0]:
        engine = {"engine": {"parallel": slots, "n_ctx": 4096 * slots}} if slots else {}
        setups[f"now, {slots} slots" if slots else "now"] = (ROOT, engine)
    workers = {name: Worker(checkout, overrides, scratch / f"setup-{index}")
               for index, (name, (checkout, overrides)) in enumerate(setups.items())}
    turns: dict[str, list[Turn]] = {name: [] for name in setups}
    chosen = requests(args)
    for index, (kind, message) in enumerate(chosen):
        for name, worker in workers.items():
            turns[name].append(worker.measure(kind, message, session=f"turn-{index}"))
        print(f"\r{index + 1}/{len(chosen)} turns", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for worker in workers.values():
        worker.close()
    figures = {
        name: {
            kind: summary([t for t in measured if t.kind == kind]) for kind in ("single", "two experts")
            if any(t.kind == kind for t in measured)
        } | {"breakdown": breakdown([t for t in measured if t.kind == "single" and not t.split])}
        for name, measured in turns.items()
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print("\n| setup | turns | TTFT p50 | TTFT p95 | turn p50 | turn p95 | floor p50 | turn/floor p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kinds in figures.items():
        for kind in ("single", "two experts"):
            if kind in kinds:
                s = kinds[kind]
                print(f"| {name}, {kind} | {s['turns']} | {s['ttft_p50']:.2f} s | {s['ttft_p95']:.2f} s | "
                      f"{s['turn_p50']:.2f} s | {s['turn_p95']:.2f} s | {s['floor_p50']:.2f} s | {s['ratio_p50']:.2f} |")
    print("\nSingle-expert turns answered in one piece, mean per turn:\n")
    print("| setup | turns | route | retrieve | tool steps | answer | of which checks | saving | prompt tokens (tok/s) "
          "| reused prompt tokens | generated tokens (tok/s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, kinds in figures.items():
        if not (b := kinds["breakdown"]):
            continue
        print(f"| {name} | {b['turns']:.0f} | {b['route'] * 1000:.0f} ms | {b['retrieve'] * 1000:.0f} ms | {b['tool_step']:.2f} s | "
              f"{b['answer']:.2f} s | {b['checks'] * 1000:.0f} ms | {b['saving'] * 1000:.0f} ms | "
              f"{b['prompt_tokens']:.0f} ({b['prompt_per_s']:.0f}) | {b['reused_tokens']:.0f} | {b['predicted_tokens']:.0f} "
              f"({b['predicted_per_s']:.0f}) |")


if __name__ == "__main__":
    main()
