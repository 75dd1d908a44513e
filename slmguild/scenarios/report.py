"""What a scenario run tells its reader: a report per failing turn, and JUnit XML.

A failing turn is shown with where it is (file:line), what the user said, what was
expected and what failed, then the turn's trace — who answered and why, what the
search found, which tools ran, the answer — so the reason is on screen, not in a log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

from slmguild.orchestrator import Planned
from slmguild.orchestrator.trace import RouteTrace, TurnTrace
from slmguild.scenarios.runner import ScenarioResult, TurnResult

ANSWER_SHOWN = 400  # characters of the answer in a report


def turn_report(turn: TurnResult) -> str:
    """The plain-text report of a failing turn: expectation, failures, trace."""
    lines = [f"{turn.where}: turn failed", f"  user: {turn.turn.user}"]
    if turn.reply is None:  # the turn broke off: where it had gone is the best clue
        for event in turn.routed:
            if isinstance(event, Planned):
                lines += [f"  split: {expert} <- {question!r}" for expert, question in event.parts]
            else:
                lines.append(f"  routed to {event.expert}: {event.reason}")
    expect = turn.turn.expect
    expected = {key: value for key, value in expect.model_dump().items() if key in expect.model_fields_set}
    if expected:
        lines.append("  expected:")
        lines += [f"    {key}: {value}" for key, value in expected.items()]
    lines.append("  failed:")
    lines += [f"    - {failure}" for failure in turn.failures]
    if turn.reply is not None:
        lines.append("  trace:")
        lines += [f"    {line}" for line in _trace_lines(turn.reply.expert, turn.reply.text, turn.reply.trace)]
    return "\n".join(lines)


def _trace_lines(expert: str, text: str, trace: TurnTrace) -> list[str]:
    route = trace.route or RouteTrace(reason="no reason recorded")
    scores = ", ".join(f"{name} {score:.2f}" for name, score in sorted(route.scores.items(), key=lambda item: -item[1]))
    lines = [f"answered by: {expert} ({route.reason})"]
    if scores:
        lines.append(f"route scores: {scores}")
    for part in trace.parts:
        lines.append(f"part for {part.route.expert if part.route else '?'}:")
        lines += [f"  {line}" for line in _evidence_lines(part)]
    lines += _evidence_lines(trace)
    shown = text if len(text) <= ANSWER_SHOWN else text[:ANSWER_SHOWN] + " ..."
    lines.append("answer: " + shown.replace("\n", "\n        "))
    return lines


def _evidence_lines(trace: TurnTrace) -> list[str]:
    lines = []
    if trace.retrieved:
        lines.append("retrieved: " + ", ".join(f"{hit.id} ({hit.score:.2f})" for hit in trace.retrieved))
    for call in trace.tools:
        lines.append(f"tool {call.tool}({call.arguments}) -> {call.status}: {call.content[:160]}")
    return lines


def summary(results: Sequence[ScenarioResult]) -> str:
    """`12 passed, 1 failed (35 turns) in 14.2 s`."""
    passed = sum(result.passed for result in results)
    failed = len(results) - passed
    turns = sum(len(result.turns) for result in results)
    seconds = sum(result.seconds for result in results)
    counts = f"{passed} passed" + (f", {failed} failed" if failed else "")
    return f"{counts} ({turns} turns) in {seconds:.1f} s"


def write_junit(results: Sequence[ScenarioResult], path: Path) -> None:
    """Write `results` as JUnit XML (one test case per scenario and mode) for CI systems."""
    suite = ElementTree.Element(
        "testsuite",
        name="slmguild scenarios",
        tests=str(len(results)),
        failures=str(sum(1 for r in results if r.error is None and not r.passed)),
        errors=str(sum(1 for r in results if r.error is not None)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=str(result.scenario.file), name=result.title, time=f"{result.seconds:.3f}"
        )
        if result.error is not None:
            ElementTree.SubElement(case, "error", message=result.error.splitlines()[0]).text = result.error
        elif not result.passed:
            failing = [turn for turn in result.turns if not turn.passed]
            element = ElementTree.SubElement(case, "failure", message=failing[0].failures[0])
            element.text = "\n\n".join(turn_report(turn) for turn in failing)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
