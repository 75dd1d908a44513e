"""Every benchmark script runs, in a quick mode, and prints tables that parse.

The README's figures come from these scripts; a script that no longer runs (an import
that moved, a renamed option) would go unnoticed until someone re-measures. Each runs
here on a few rows with the real engine and model, and each table it prints must have a
header, a separator and rows of the header's width.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests/data/clinc150-sample"
QUICK = {
    "answers.py": ["--limit", "2", "--check"],
    "conversations.py": ["--limit", "2"],
    "finetune.py": ["--parts", "serving", "--turns", "2"],
    "free_text_judge.py": [],
    "load.py": ["--sessions", "2", "--turns", "1"],
    "not_found.py": ["--limit", "4", "--data", "examples/acme/answers_dev.jsonl",
                     "--heldout", "examples/acme/answers_unanswerable_heldout.jsonl"],
    "overhead.py": ["--turns", "5"],
    "retrieval.py": ["--scales", "300"],
    "routing.py": ["--train", str(SAMPLE / "train.jsonl"), "--eval", str(SAMPLE / "val.jsonl"),
                   "--k", "2", "--calib", "2", "--llm-rows", "6", "--llm-oos", "2", "--tune-encoder"],
    "prompt_cache.py": ["--prompts", "2", "--caps", "64"],
    "serve_load.py": ["--clients", "2", "--max-tokens", "8"],
    "server_checks.py": ["--requests", "10"],
    "serving.py": ["--rounds", "1", "--max-tokens", "8"],
    "tool_calls.py": ["--limit", "2"],
    "turns.py": ["--questions", "1", "--tools", "1", "--two-experts", "1"],
}
LIBRARIES = {"model_free.py"}  # imported by other scripts, not run on its own


def tables(text: str) -> list[list[list[str]]]:
    """The markdown tables of `text`, each as its rows of cells: header, separator, rows."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|") and line.rstrip().endswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    return found


def test_every_script_has_a_quick_mode():
    scripts = {path.name for path in (ROOT / "benchmarks").glob("*.py")}
    assert scripts - LIBRARIES == set(QUICK)


@pytest.mark.parametrize("script", sorted(QUICK))
def test_the_benchmark_runs_and_its_tables_parse(script, tmp_path):
    env = {**os.environ, "ACME_DB": str(tmp_path / "acme.sqlite")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *QUICK[script]], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = tables(done.stdout)
    assert printed, done.stdout[-2000:]
    for table in printed:
        header, separator, *rows = table
        assert set("".join(separator)) <= set("-: "), table
        assert rows and all(len(row) == len(header) for row in rows), table
