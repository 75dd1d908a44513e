"""How well a free-text argument judge agrees with a person's reading.

`examples/acme/free_text_judgements.jsonl` holds 149 ticket summaries for 29 labelled
requests, each read by a person who judged whether it says what the request's label says
(`acceptable`): 33 made by the example guild's expert (`origin: model`, both decision
modes, all four tool-prompt sets) and 116 written to vary in quality (`origin: written`:
paraphrases, shortened, copied and cut-off ones, wrong details, vague ones, other problems),
by a helper that never saw the judges; a second helper read them all, blind to both.

Each judge's threshold is fitted on one half of the requests and judged on the other
(two folds, by request): the cross-validated agreement is the honest figure; the
in-sample one is the threshold fitted on all of them, as shipped.

    python benchmarks/free_text_judge.py [--data examples/acme/free_text_judgements.jsonl]
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Callable
from pathlib import Path

from slmguild.evaluation.metrics import rouge_l
from slmguild.evaluation.tool_calls import FREE_TEXT_RECALL, kept_share

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = [step / 100 for step in range(5, 96)]


JUDGES: dict[str, Callable[[str, str], float]] = {
    "ROUGE-L F1 (the judge before)": lambda text, label: rouge_l(text, label),
    "label's figures kept + its content words kept (says_the_same)": kept_share,
}


def agreement(scores: list[float], gold: list[bool], threshold: float) -> float:
    return sum((score >= threshold) == said for score, said in zip(scores, gold, strict=True)) / len(gold)


def kappa(predicted: list[bool], gold: list[bool]) -> float:
    """Cohen's kappa: agreement beyond what chance would give."""
    n = len(gold)
    observed = sum(p == g for p, g in zip(predicted, gold, strict=True)) / n
    yes_p, yes_g = sum(predicted) / n, sum(gold) / n
    chance = yes_p * yes_g + (1 - yes_p) * (1 - yes_g)
    return (observed - chance) / (1 - chance) if chance < 1 else 0.0


def fitted(scores: list[float], gold: list[bool]) -> float:
    """The threshold of best agreement (nearest 0.5 among equals)."""
    return max(THRESHOLDS, key=lambda t: (agreement(scores, gold, t), -abs(t - 0.5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "examples/acme/free_text_judgements.jsonl"))
    rows = [json.loads(line) for line in Path(parser.parse_args().data).read_text().splitlines() if line.strip()]
    gold = [bool(row["acceptable"]) for row in rows]
    fold = [zlib.crc32(row["request"].encode()) % 2 for row in rows]
    print(f"{len(rows)} summaries of {len({row['request'] for row in rows})} requests, "
          f"{sum(gold)} judged acceptable by a person; shipped threshold {FREE_TEXT_RECALL:.2f}\n")
    print("| judge | agreement, cross-validated | kappa, cross-validated | agreement in-sample (threshold) "
          "| said right, read wrong | said wrong, read right |")
    print("|---|---|---|---|---|---|")
    for name, judge in JUDGES.items():
        scores = [judge(row["candidate"], row["label"]) for row in rows]
        predicted = [False] * len(rows)
        for held in (0, 1):
            fit = [i for i in range(len(rows)) if fold[i] != held]
            threshold = fitted([scores[i] for i in fit], [gold[i] for i in fit])
            for i in range(len(rows)):
                if fold[i] == held:
                    predicted[i] = scores[i] >= threshold
        everyone = fitted(scores, gold)
        said = [score >= everyone for score in scores]
        crossed = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
        print(f"| {name} | {crossed:.3f} | {kappa(predicted, gold):.2f} | {agreement(scores, gold, everyone):.3f} "
              f"({everyone:.2f}) | {sum(s and not g for s, g in zip(said, gold, strict=True))} "
              f"| {sum(g and not s for s, g in zip(said, gold, strict=True))} |")


if __name__ == "__main__":
    main()
