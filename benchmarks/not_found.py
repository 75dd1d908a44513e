"""How `answer.min_similarity` decides "not found", and whether a fitted value transfers.

A grounded answer rests on the passages whose cosine with the question is at least
`min_similarity`; with none left (and no tool result), the expert says its `not_found`
text. Each question is asked of its labelled expert (routing aside), answerable rows with
`keys` and unanswerable ones with `unanswerable: true`. Prints, per threshold, the share
of unanswerable questions answered honestly and of answerable ones wrongly refused — on
the `--data` questions, and with `--heldout`, side by side on questions the threshold
was not chosen on — and the highest threshold that refuses at most `--max-refused` of the
`--data` answerable ones.

    python benchmarks/not_found.py --guild examples/acme/guild.yaml \\
        --data examples/acme/answers_dev.jsonl examples/acme/answers_unanswerable_dev.jsonl \\
        --heldout examples/acme/answers_heldout.jsonl examples/acme/answers_unanswerable_heldout.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_cosines(guild: Any, paths: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(the highest cosine of the passages chosen for each question, whether it is unanswerable)."""
    from slmguild.evaluation.data import read_jsonl

    rows = [row for path in paths for row in read_jsonl(path, ["question", "expert"])
            if row.get("keys") or row.get("unanswerable")]
    if limit:
        rows = random.Random(0).sample(rows, min(limit, len(rows)))
    cosines, unanswerable = [], []
    for index, row in enumerate(rows, 1):
        expert = guild.expert(row["expert"])
        if expert.grounded is not None:
            found = expert.grounded.evidence(row["question"], expert.retrieve(row["question"]))
            cosines.append(max((score for _, score in found), default=-1.0))
            unanswerable.append(bool(row.get("unanswerable")))
        print(f"\r{index}/{len(rows)}", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    return np.asarray(cosines), np.asarray(unanswerable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guild", type=Path, default=ROOT / "examples/acme/guild.yaml")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="questions to choose the threshold on")
    parser.add_argument("--heldout", type=Path, nargs="*", default=[], help="questions to measure it on")
    parser.add_argument("--limit", type=int, help="a seeded sample of N questions of each set")
    parser.add_argument("--max-refused", type=float, default=0.03,
                        help="the share of answerable questions the chosen threshold may refuse (default 0.03)")
    args = parser.parse_args()

    from slmguild.config import load_config
    from slmguild.orchestrator import Guild

    guild = Guild(load_config(args.guild, {"answer": {"min_similarity": -1.0}}))
    guild.knowledge.ingest()  # incremental: a no-op once the stores are built
    sets = {"data": best_cosines(guild, args.data, args.limit)}
    if args.heldout:
        sets["held out"] = best_cosines(guild, args.heldout, args.limit)
    for name, (_, missing) in sets.items():
        print(f"{name}: {int((~missing).sum())} answerable, {int(missing.sum())} unanswerable questions")
    print("\n| min_similarity | " + " | ".join(f"{name}: honest | {name}: refused" for name in sets) + " |")
    print("|---|" + "---|---|" * len(sets))
    chosen = None
    for threshold in np.round(np.arange(0.20, 0.601, 0.02), 2):
        cells = []
        for name, (cosine, missing) in sets.items():
            honest, refused = np.mean(cosine[missing] < threshold), np.mean(cosine[~missing] < threshold)
            cells += [f"{honest:.2f}", f"{refused:.3f}"]
            if name == "data" and refused <= args.max_refused:
                chosen = threshold
        print(f"| {threshold:.2f} | " + " | ".join(cells) + " |")
    print(f"\nhighest threshold refusing at most {args.max_refused:.0%} of the --data answerable questions: {chosen}")


if __name__ == "__main__":
    main()
