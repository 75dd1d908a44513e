"""Run the tool calls a model asks for, safely.

The allowlist is enforced here, in code: a model (or a retrieved document, or a user)
that asks for a tool the expert does not have gets a refusal, never an execution.
Arguments are validated before the tool runs; a tool that raises or runs past its
timeout returns an error observation. Nothing here raises at the model's request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.tools import BaseTool
from pydantic import ValidationError

log = logging.getLogger("slmguild.tools")

Status = Literal["ok", "error", "invalid", "refused", "unknown", "declined"]


@dataclass(frozen=True)
class Observation:
    """What came of one tool call, as the model and the trace see it.

    `status`: ok; error (the tool raised or timed out); invalid (bad arguments);
    refused (a real tool, but not on this expert's allowlist); unknown (no such tool);
    declined (it waited for the user's approval and did not get it). Only `ok` and
    `error` mean the tool ran.
    """

    tool: str
    arguments: dict[str, Any]
    status: Status
    content: str
    duration_s: float = 0.0
    said: str = ""  # the result as a sentence (the tool's `says` template); "" for the default wording

    @property
    def sentence(self) -> str:
        """The observation as the user reads it: the tool's own sentence for its result, else
        its fields in words ("expense_limit: category meals, limit eur 25.0"), or why it failed."""
        if self.said:
            return self.said
        if self.status != "ok":
            return f"{self.tool} failed: {self.content}"
        try:
            result = json.loads(self.content)
        except ValueError:
            return f"{self.tool}: {self.content}"
        if not isinstance(result, dict):
            return f"{self.tool}: {self.content}"
        fields = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in result.items() if value is not None)
        return f"{self.tool}: {fields}."

    @property
    def retryable(self) -> bool:
        """Whether the model should be asked again (its call, not the tool, was wrong)."""
        return self.status in ("invalid", "refused", "unknown")

    def for_model(self) -> str:
        """The observation as text for the model's next step."""
        if self.status == "ok":
            return f"Result of {self.tool}: {self.content}"
        return f"The call to {self.tool} failed ({self.status}): {self.content}"


class ToolExecutor:
    """Executes calls to the tools in `allowed`, out of all the tools the guild `known`s."""

    def __init__(
        self,
        tools: Mapping[str, BaseTool],
        allowed: Collection[str],
        *,
        timeout_s: float = 10.0,
        known: Collection[str] = (),
    ) -> None:
        self.tools = dict(tools)
        self.allowed = frozenset(allowed)
        self.known = frozenset(known) | frozenset(tools)
        self.timeout_s = timeout_s

    async def execute(self, name: str, arguments: dict[str, Any]) -> Observation:
        """Run one call and describe its outcome; never raises for the model's mistakes."""
        started = time.perf_counter()

        def observe(status: Status, content: str, said: str = "") -> Observation:
            return Observation(name, arguments, status, content, round(time.perf_counter() - started, 4), said)

        if name not in self.allowed:
            allowed = ", ".join(sorted(self.allowed)) or "none"
            if name in self.known:
                log.warning("refused a call to %s: not on the allowlist (%s)", name, allowed)
                return observe("refused", f"{name} is not one of your tools (yours: {allowed})")
            return observe("unknown", f"there is no tool called {name} (yours: {allowed})")
        tool = self.tools[name]
        schema = tool.tool_call_schema
        if not isinstance(schema, dict):  # a dict schema is checked by the tool when it runs
            try:
                schema.model_validate(arguments)  # type: ignore[union-attr]  # pydantic v2 (langchain also types v1)
            except ValidationError as exc:
                return observe("invalid", _describe_validation(exc))
        try:
            result = await asyncio.wait_for(tool.ainvoke(arguments), timeout=self.timeout_s)
        except TimeoutError:
            # A sync tool's thread cannot be killed: it finishes in the background, unheard.
            return observe("error", f"{name} did not answer within {self.timeout_s:g} s")
        except ValidationError as exc:  # validators that only run inside the call
            return observe("invalid", _describe_validation(exc))
        except Exception as exc:  # a tool's failure is an observation for the model  # noqa: BLE001
            log.info("tool %s raised %s: %s", name, type(exc).__name__, exc)
            return observe("error", f"{type(exc).__name__}: {exc}")
        return observe("ok", _as_text(result), _said((tool.metadata or {}).get("says"), result))


def _as_text(result: Any) -> str:
    """A tool result as the model reads it: strings as they are, the rest as JSON."""
    if isinstance(result, str):
        return result
    return json.dumps(result, default=str, ensure_ascii=False)


def _said(says: str | Sequence[str] | None, result: Any) -> str:
    """The tool's sentence for `result`: the first of its templates that the result fills
    ("" without one, or when none fills: the default wording is then used)."""
    if not says or not isinstance(result, dict):
        return ""
    templates = [says] if isinstance(says, str) else list(says)
    for template in templates:
        try:
            return template.format(**result)
        except (KeyError, IndexError, ValueError, TypeError):  # a missing key, a None where a number goes
            continue
    log.warning("the result of a tool fills none of its sentences %r: %s", templates, result)
    return ""


def _describe_validation(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'arguments'}: {error['msg']}"
        for error in exc.errors()
    )
