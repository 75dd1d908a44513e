"""Concurrent streaming clients against `slmguild serve` on loopback, with the real small
model: does every stream complete, does any answer land in another client's session, and
how long does each client wait for its first token?

    python benchmarks/serve_load.py [--clients 20] [--max-tokens 48] [--parallel 1,4] [--json]

The example guild (its knowledge ingested first, incrementally) behind the real server
on a free loopback port; each client asks a different question of the example's
retrieval set through the official `openai` client (AsyncOpenAI, stream=True), as a user
of its own (users' keys on, as a team's server runs), in its own session (`X-Session-Id`),
all at once. Answers are capped at --max-tokens so that a
run stays within minutes on two cores. Afterwards each session is read back over the
API: exactly one turn, its own question, the answer it streamed. `--parallel` runs the
whole thing once per number of engine slots (each slot gets the example's 4096-token
context), side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/http_server.py: the same way the tests serve an app

import slmguild
from slmguild.config import load_config
from slmguild.knowledge import KnowledgeBase
from slmguild.server import create_app
from slmguild.server.users import KeyStore
from slmguild.serving.engine import stop_all
from tests.http_server import serving

EXAMPLE = ROOT / "examples" / "acme"


async def _client(url: str, model: str, session: str, question: str, key: str) -> dict:
    """One streaming turn: time to first token, the streamed text, the outcome it ended with."""
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=600)
    started = time.perf_counter()
    first_token_s, pieces, outcome = None, [], None
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], stream=True,
        extra_headers={"X-Session-Id": session},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first_token_s = first_token_s or time.perf_counter() - started
            pieces.append(chunk.choices[0].delta.content)
        outcome = (chunk.model_extra or {}).get("slmguild", outcome)
    return {"session": session, "key": key, "question": question, "text": "".join(pieces).strip(),
            "first_token_s": first_token_s, "total_s": time.perf_counter() - started, "outcome": outcome}


def _own_session(url: str, result: dict) -> bool:
    """The session holds exactly this client's turn: its question and the answer it streamed."""
    saved = httpx.get(f"{url}/api/sessions/{result['session']}", timeout=30,
                      headers={"Authorization": f"Bearer {result['key']}"}).json().get("turns", [])
    return (len(saved) == 1 and saved[0]["message"] == result["question"]
            and saved[0]["text"] == result["text"] and result["outcome"]["session"] == result["session"])


def run(clients: int, max_tokens: int, parallel: int = 1) -> dict:
    """Serve the example guild and run `clients` streaming turns at once; the figures."""
    overrides = {"defaults": {"generation": {"max_tokens": max_tokens}},
                 "engine": {"parallel": parallel, "n_ctx": 4096 * parallel}}
    config = load_config(EXAMPLE / "guild.yaml", overrides)
    KnowledgeBase(config).ingest()
    stop_all()  # engines are per process: the next one starts with this run's slots
    guild = slmguild.Guild(config)
    rows = [json.loads(line) for line in (EXAMPLE / "retrieval_questions.jsonl").read_text().splitlines()]
    questions = [row["question"] for row in rows[:: max(1, len(rows) // clients)]][:clients]
    prefix = uuid.uuid4().hex[:8]
    keys = KeyStore(Path(tempfile.mkdtemp(prefix="serve-load-")) / "keys.sqlite")
    users = [keys.add(f"user{n:02d}") for n in range(len(questions))]
    with serving(create_app(guild, keys=keys)) as url:
        guild.run("warm up: load the models", expert="it")  # the first turn loads them: not load
        started = time.perf_counter()

        async def everyone() -> list:
            return await asyncio.gather(*(_client(url, guild.name, f"load-{prefix}-{n:02d}", question, users[n])
                                          for n, question in enumerate(questions)), return_exceptions=True)

        results = asyncio.run(everyone())
        wall_s = time.perf_counter() - started
        finished = [r for r in results if isinstance(r, dict) and r["outcome"] and r["outcome"]["event"] == "done"]
        own = [r for r in finished if _own_session(url, r)]
    waits = sorted(r["first_token_s"] for r in finished if r["first_token_s"] is not None)
    return {
        "clients": len(questions), "completed": len(finished), "in_own_session": len(own),
        "errors": [repr(r) for r in results if not isinstance(r, dict)],
        "ttft_p50_s": statistics.median(waits) if waits else None,
        "ttft_p95_s": waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))] if waits else None,
        "wall_s": wall_s, "parallel": parallel, "max_tokens": max_tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--parallel", default="1", help="engine slots, comma-separated: one run each")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (for tests)")
    args = parser.parse_args()
    runs = [run(args.clients, args.max_tokens, int(slots)) for slots in args.parallel.split(",")]
    if args.json:
        print(json.dumps(runs))
        return
    print("| engine slots | clients | completed | in their own session | TTFT p50 | TTFT p95 | all done in |")
    print("|---|---|---|---|---|---|---|")
    for f in runs:
        print(f"| {f['parallel']} | {f['clients']} | {f['completed']} | {f['in_own_session']} | "
              f"{f['ttft_p50_s']:.1f} s | {f['ttft_p95_s']:.1f} s | {f['wall_s']:.1f} s |")
    print(f"\n(answers capped at {args.max_tokens} tokens)")
    for error in (error for f in runs for error in f["errors"]):
        print("error:", error)


if __name__ == "__main__":
    main()
