"""A turn's expectations, checked against its reply and trace.

Each failed expectation becomes one sentence that says what was expected and what
happened instead, in the words of the scenario file (`routed_to: expected it, but hr
answered`). The judge rubric needs a model and is checked by the runner.
"""

from __future__ import annotations

import re
from typing import Any

from slmguild.orchestrator import Reply
from slmguild.orchestrator.trace import SourceTrace, ToolCallTrace
from slmguild.scenarios.spec import Expectations, ExpectedCall

ESCALATION = "escalation"


def answered_by(reply: Reply) -> list[str]:
    """The experts that answered: one, or each part's of a multi-expert turn."""
    return reply.expert.split("+")


def tool_calls(reply: Reply) -> list[ToolCallTrace]:
    """Every tool call of the turn that ran (ok or error), in order, across its parts."""
    return [call for call in _tool_records(reply) if call.status in ("ok", "error")]


def approvals_asked(reply: Reply) -> list[str]:
    """The tools whose calls waited for the user's approval in this turn (answered or not)."""
    asked = [call.tool for call in _tool_records(reply) if call.approval]
    return asked + ([reply.pending.tool] if reply.pending is not None else [])


def _tool_records(reply: Reply) -> list[ToolCallTrace]:
    return [call for trace in reply.trace.all_parts() for call in trace.tools]


def retrieved_sources(reply: Reply) -> list[SourceTrace]:
    """Every chunk the turn's searches found, across its parts."""
    return [hit for trace in reply.trace.all_parts() for hit in trace.retrieved]


def check_turn(expect: Expectations, reply: Reply) -> list[str]:
    """The expectations `reply` does not meet, one sentence each (empty: all met)."""
    failures: list[str] = []
    experts = answered_by(reply)
    if expect.routed_to is not None and sorted(expect.routed_to) != sorted(experts):
        failures.append(f"routed_to: expected {' + '.join(expect.routed_to)}, but {' + '.join(experts)} answered")
    if expect.escalated is not None and (ESCALATION in experts) != expect.escalated:
        failures.append(
            "escalated: expected the escalation model to answer, but it did not"
            if expect.escalated else "escalated: expected a small model to answer, but the turn was escalated"
        )
    if expect.tools_called is not None:
        failures += _check_calls(expect.tools_called, tool_calls(reply))
    if expect.approval_asked is not None and expect.approval_asked not in (asked := approvals_asked(reply)):
        failures.append(f"approval_asked: expected a call to {expect.approval_asked} to wait for approval, "
                        f"but {', '.join(asked) or 'no call'} did")
    if expect.retrieved is not None:
        found = retrieved_sources(reply)
        for wanted in expect.retrieved:
            if not any(hit.id == wanted or hit.source.endswith(wanted) for hit in found):
                ids = ", ".join(dict.fromkeys(hit.id for hit in found)) or "nothing"
                failures.append(f"retrieved: expected {wanted} among the documents found, but the search found {ids}")
    text = reply.text.lower()
    failures += [f"answer_contains: the answer does not contain {wanted!r}"
                 for wanted in expect.answer_contains if wanted.lower() not in text]
    failures += [f"answer_not_contains: the answer contains {unwanted!r}"
                 for unwanted in expect.answer_not_contains if unwanted.lower() in text]
    if expect.answer_matches is not None and not re.search(expect.answer_matches, reply.text):
        failures.append(f"answer_matches: the answer does not match /{expect.answer_matches}/")
    return failures


def _check_calls(expected: list[ExpectedCall], made: list[ToolCallTrace]) -> list[str]:
    """Each expected call must be made, in order, with (at least) the given arguments."""
    if not expected:
        return [f"tools_called: expected no tool call, but the turn called {_calls(made)}"] if made else []
    failures, position = [], 0
    for wanted in expected:
        match = next(
            (index for index in range(position, len(made)) if _matches(wanted, made[index])), None
        )
        if match is None:
            arguments = f" with {wanted.arguments}" if wanted.arguments else ""
            failures.append(f"tools_called: expected a call to {wanted.name}{arguments}, "
                            f"but the turn called {_calls(made) or 'no tool'}")
        else:
            position = match + 1
    return failures


def _matches(wanted: ExpectedCall, call: ToolCallTrace) -> bool:
    arguments = call.arguments
    return call.tool == wanted.name and all(
        key in arguments and _same(arguments[key], value) for key, value in wanted.arguments.items()
    )


def _same(actual: Any, expected: Any) -> bool:
    # YAML gives 100 where the model may have said 100.0, or "IT-1042" in another case.
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.strip().lower() == expected.strip().lower()
    return actual == expected


def _calls(made: list[ToolCallTrace]) -> str:
    return ", ".join(f"{call.tool}({call.arguments})" for call in made)
