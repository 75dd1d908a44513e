"""Prometheus metrics of a server: requests and their latency, turns per expert, the
share answered locally versus escalated, and tool errors. Each app has its own registry,
so that two apps in one process (tests) count separately."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from slmguild.orchestrator import Reply
from slmguild.orchestrator.roster import ESCALATION


class Metrics:
    """The counters of one app, and their text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "slmguild_requests", "HTTP requests, by route and status", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "slmguild_request_seconds", "Time to the response's first byte, by route", ["route"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=self.registry,
        )
        self.turns = Counter("slmguild_turns", "Finished turns, by the expert that answered", ["expert"],
                             registry=self.registry)
        self.answered = Counter("slmguild_turns_answered", "Finished turns, answered locally or escalated",
                                ["where"], registry=self.registry)
        self.turn_seconds = Histogram(
            "slmguild_turn_seconds", "A turn's duration, from routing to its last token",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=self.registry,
        )
        self.tool_errors = Counter(
            "slmguild_tool_errors", "Tool calls that did not succeed (error, invalid, unknown, refused)",
            ["expert", "tool", "status"], registry=self.registry,
        )

    def count_turn(self, reply: Reply) -> None:
        """Count a finished turn: its expert, where it was answered, its duration, its tool errors."""
        self.turns.labels(reply.expert).inc()
        self.answered.labels("escalated" if reply.expert == ESCALATION else "local").inc()
        if (latency := reply.trace.latency_s) is not None:
            self.turn_seconds.observe(latency)
        for call in (call for part in reply.trace.all_parts() for call in part.tools):
            if call.status not in ("ok", "declined"):  # declined: the user said no, nothing failed
                self.tool_errors.labels(call.expert or reply.expert, call.tool, call.status).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
