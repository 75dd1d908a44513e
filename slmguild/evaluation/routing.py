"""Routing accuracy on labelled requests: JSON lines `{"text": ..., "expert": ...}`.

`expert` null (or absent) labels a request that no expert owns: the router is right
when it gives it to nobody (the fallback or the escalation model answers it).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slmguild.orchestrator.routers import Router

NOBODY = "(nobody)"


@dataclass(frozen=True)
class Labelled:
    """A request and the expert that owns it (None: nobody)."""

    text: str
    expert: str | None


@dataclass
class RoutingReport:
    """How often the router chose the labelled expert, overall and per label."""

    total: int
    correct: int
    per_label: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (correct, total)
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)  # (text, labelled, routed)
    p50_ms: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def labelled_rows(rows: Sequence[dict[str, Any]]) -> list[Labelled]:
    """`Labelled` requests from JSON-lines rows (`text`, `expert`)."""
    return [Labelled(str(row["text"]), row.get("expert")) for row in rows]


def routing_accuracy(
    router: Router, rows: Sequence[Labelled], *, progress: Callable[[int, int], None] | None = None
) -> RoutingReport:
    """Route each request alone (no conversation) and compare with its label."""
    outcomes: Counter[tuple[str, bool]] = Counter()
    mistakes, timings = [], []
    for done, row in enumerate(rows, 1):
        started = time.perf_counter()
        routed = router.route(row.text).expert
        timings.append(time.perf_counter() - started)
        label = row.expert or NOBODY
        outcomes[label, routed == row.expert] += 1
        if routed != row.expert:
            mistakes.append((row.text, label, routed or NOBODY))
        if progress:
            progress(done, len(rows))
    labels = sorted({label for label, _ in outcomes})
    return RoutingReport(
        total=len(rows),
        correct=sum(count for (_, right), count in outcomes.items() if right),
        per_label={label: (outcomes[label, True], outcomes[label, True] + outcomes[label, False]) for label in labels},
        mistakes=mistakes,
        p50_ms=statistics.median(timings) * 1000 if timings else 0.0,
    )
