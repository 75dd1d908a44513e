"""Catch arguments a small model made up: identifiers, numbers and dates must come from
the conversation.

A 135M model asked about "my VPN password" will happily call `ticket_status` with the
ticket id of an example it was shown. Values of arguments whose schema marks them as
data the user must supply — a `pattern` (ids), a number, a date — are checked against
what the user and the tools actually said; free text and enum choices are not.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.tools import BaseTool

from slmguild.tools.steps import argument_schema

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def ungrounded_arguments(item: BaseTool, arguments: dict[str, Any], context: str) -> list[str]:
    """The `name=value` of each checkable argument whose value does not occur in `context`."""
    properties = argument_schema(item).get("properties", {})
    text = context.lower()
    numbers = {float(n) for n in _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3})", "", context))}
    missing = []
    for name, value in arguments.items():
        spec = properties.get(name, {})
        if "default" in spec and spec["default"] == value:
            continue  # the model kept the default: nothing was made up
        kinds = {spec.get("type")} | {option.get("type") for option in spec.get("anyOf", [])}
        if kinds & {"number", "integer"} and isinstance(value, int | float) and not isinstance(value, bool):
            grounded = float(value) in numbers
        elif "pattern" in spec or spec.get("format") in ("date", "date-time"):
            grounded = str(value).lower() in text
        else:
            continue
        if not grounded:
            missing.append(f"{name}={value!r}")
    return missing
