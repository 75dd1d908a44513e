"""The agent's next step as one JSON object, decoded under a schema small models can meet.

The schema is a union: `{"action": "answer"}`, or `{"action": "<tool>", "arguments": {...}}`
with one branch per tool the expert may use, each with that tool's argument schema.
Under constrained decoding (llama.cpp grammar, Ollama `format`) the model cannot name
a tool it does not have, nor leave out a required argument. The answer itself is
generated afterwards as free text, so that it streams.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool

ANSWER = "answer"


@dataclass(frozen=True)
class AnswerStep:
    """The model will answer now, without (another) tool."""


@dataclass(frozen=True)
class ToolStep:
    """The model asks for `tool` with `arguments` (not validated yet: the executor does it)."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


class StepError(ValueError):
    """A step that is not one of the schema's shapes; its message is fed back to the model."""


class StepParser:
    """The JSON schema of an expert's next step, its description for the prompt, its parser."""

    def __init__(self, tools: list[BaseTool]) -> None:
        self.tools = {item.name: item for item in tools}

    def json_schema(
        self, only: str | None = None, values: Mapping[str, Mapping[str, list[Any]]] | None = None
    ) -> dict[str, Any]:
        """The union schema of the next step, for `with_structured_output(method="json_schema")`.

        With `only`, a tool's name, the step must be a call of that tool: no other tool,
        and no answer. With `values` ({tool: {argument: values}}, see
        `slmguild.tools.grounding.supplied_values`), an argument may take only its values
        (when it has some).
        """
        definitions: dict[str, Any] = {}
        branches: list[dict[str, Any]] = []
        if only is None:
            branches.append(
                {
                    "type": "object",
                    "properties": {"action": {"const": ANSWER}},
                    "required": ["action"],
                    "additionalProperties": False,
                }
            )
        for name, item in self.tools.items():
            if only is not None and name != only:
                continue
            arguments = _restricted(argument_schema(item), (values or {}).get(name, {}))
            # Nested schemas keep their $refs valid only with their $defs at the top.
            definitions.update(arguments.pop("$defs", {}))
            branches.append(
                {
                    "type": "object",
                    "properties": {"action": {"const": name}, "arguments": arguments},
                    "required": ["action", "arguments"],
                    "additionalProperties": False,
                }
            )
        schema: dict[str, Any] = {"title": "next_step", "anyOf": branches}
        if definitions:
            schema["$defs"] = definitions
        return schema

    def describe(self) -> str:
        """The tools and the reply format, for the system prompt."""
        lines = ["You can call these tools:"]
        for name, item in self.tools.items():
            properties = argument_schema(item).get("properties", {})
            signature = ", ".join(f"{arg}: {spec.get('type', 'value')}" for arg, spec in properties.items())
            details = "; ".join(
                f"{arg}: {spec['description']}" for arg, spec in properties.items() if spec.get("description")
            )
            summary = (item.description or "").strip().splitlines()[0] if item.description else ""
            lines.append(f"- {name}({signature}): {summary}" + (f" ({details})" if details else ""))
        lines.append(
            'Reply with JSON only: {"action": "answer"} if you can answer without a tool, or '
            '{"action": "<tool name>", "arguments": {...}} to call a tool.'
        )
        return "\n".join(lines)

    def parse(self, data: str | dict[str, Any]) -> AnswerStep | ToolStep:
        """The step that `data` (JSON text or an already parsed object) asks for."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise StepError(f"the reply is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            raise StepError('the reply must be a JSON object with an "action" string')
        action = data["action"]
        if action == ANSWER:
            return AnswerStep()
        arguments = data.get("arguments", {})
        if not isinstance(arguments, dict):
            raise StepError('"arguments" must be a JSON object')
        return ToolStep(tool=action, arguments=arguments)


def argument_schema(item: BaseTool) -> dict[str, Any]:
    """The JSON schema of a tool's arguments (its `tool_call_schema`, pydantic or dict)."""
    schema = item.tool_call_schema
    # langchain-core also allows pydantic.v1 models here; slmguild's tools are all pydantic v2.
    data = schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    # The tool's name and docstring are in the prompt already; keep the grammar small.
    return {key: value for key, value in data.items() if key not in ("title", "description")}


def _restricted(arguments: dict[str, Any], values: Mapping[str, list[Any]]) -> dict[str, Any]:
    """`arguments` (an argument schema) with each argument of `values` that has some
    limited to them (and its default, except for an enum: a choice the user named is made,
    and the argument becomes required).

    An argument with none is left as it is, and a call that makes one up is refused
    afterwards (`ungrounded_arguments`): left without the tool it wanted, a 135M model
    calls another one (it opened tickets for how-to questions) rather than answer.
    """
    properties = dict(arguments.get("properties", {}))
    required = list(arguments.get("required", []))
    for name, allowed in values.items():
        spec = properties.get(name)
        if spec is None or not allowed:
            continue
        # Keeping an id's or a number's default makes nothing up; a choice the user named is theirs.
        keeps_default = "default" in spec and spec["default"] not in allowed and "enum" not in spec
        options = [*allowed, spec["default"]] if keeps_default else allowed
        # The enum says it all; a type alongside it would only lengthen the grammar.
        properties[name] = {key: value for key, value in spec.items() if key in ("title", "description", "default")}
        properties[name]["enum"] = options
        if "enum" in spec and name not in required:
            required.append(name)
    return {**arguments, "properties": properties, **({"required": required} if required else {})}
