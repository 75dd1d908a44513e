"""A server's memory as new prompts arrive, by the cap on llama.cpp's prompt cache.

The embedded engine keeps evaluated prompts in host memory so that a later request with
the same prefix (an expert's system prompt and tools) is not evaluated again. Each new
prompt adds to that cache up to its cap (`engine.prompt_cache_mib`). Per cap, a fresh
process starts the engine with the bundled model and sends `--prompts` different prompts
of ~600 tokens (one token answered each); its resident memory is read after the first
and after the last.

    python benchmarks/prompt_cache.py [--prompts 60] [--caps 8192,512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import psutil

from slmguild.config import EngineConfig
from slmguild.serving.catalog import gguf_path
from slmguild.serving.engine import EmbeddedEngine

WORDS = ["vpn", "password", "ticket", "laptop", "printer", "leave", "hotel", "expense", "invoice", "badge", "policy", "meeting", "network", "account", "manager", "travel", "budget", "receipt", "software", "licence"]


def _prompt(n: int) -> str:
    """A different text of ~600 tokens for each `n` (so no prefix beyond a few tokens is shared)."""
    return " ".join(WORDS[(n * 7 + i * (n + 3)) % len(WORDS)] for i in range(450))


def measure(cap_mib: int, prompts: int) -> dict[str, float]:
    """In this process: resident MiB after the first prompt and after the last."""
    engine = EmbeddedEngine(gguf_path("smollm2-135m-instruct"), EngineConfig(prompt_cache_mib=cap_mib))
    rss = []
    for n in range(prompts):
        engine.server.handle_chat_completions(
            {"messages": [{"role": "user", "content": f"{n}: {_prompt(n)}"}], "max_tokens": 1, "temperature": 0})
        if n in (0, prompts - 1):
            rss.append(psutil.Process().memory_info().rss / 2**20)
    return {"cap_mib": cap_mib, "first_mib": rss[0], "last_mib": rss[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--caps", default="8192,512")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: measure this cap
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.prompts)))
        return
    print(f"| prompt cache cap | RSS after 1 prompt | after {args.prompts} different prompts | growth |")
    print("|---|---|---|---|")
    for cap in (int(value) for value in args.caps.split(",")):
        done = subprocess.run([sys.executable, __file__, "--one", str(cap), "--prompts", str(args.prompts)],
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {cap} MiB | {row['first_mib']:.0f} MiB | {row['last_mib']:.0f} MiB | "
              f"{row['last_mib'] - row['first_mib']:+.0f} MiB |")


if __name__ == "__main__":
    main()
