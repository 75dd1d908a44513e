"""Scripted replies for an expert's tool phase, in the shape its calling mode expects.

An expert with tools first chooses steps (call a tool, or answer), then answers. Under
constrained calling a step is a JSON object; under native calling it is a message with
`tool_calls`, and a message without calls is the answer itself. A call that waits for
approval ends the tool phase: once it is answered, the expert answers without another
step. `expert_replies` turns "call this, then say that" into the exact replies the
expert will ask for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage

from slmguild.agents import Expert
from slmguild.testing.scripted import StepReply
from slmguild.tools.steps import ANSWER

ANSWER_STEP = json.dumps({"action": ANSWER})
"""The constrained step that says "answer now, no (more) tools"."""

ToolUse = tuple[str, dict[str, Any]]  # (tool name, arguments)


def tool_step(tool: str, **arguments: Any) -> str:
    """The constrained step that calls `tool` with `arguments`."""
    return json.dumps({"action": tool, "arguments": arguments})


def expert_replies(expert: Expert, script: Sequence[str | ToolUse]) -> list[str | AIMessage | StepReply]:
    """The replies `expert`'s model must give for `script`: tool uses, then answer texts.

    Raises `ValueError` for a tool use scripted for an expert without tools.
    """
    replies: list[str | AIMessage | StepReply] = []
    approved = False  # the last tool use waited for approval: the answer follows it directly
    for item in script:
        if isinstance(item, tuple):
            tool, arguments = item
            if not expert.tools:
                raise ValueError(f"the expert '{expert.name}' has no tools, so it cannot call '{tool}'")
            if expert.tool_calling == "native":
                call = {"name": tool, "args": arguments, "id": f"call_{len(replies)}", "type": "tool_call"}
                replies.append(AIMessage(content="", tool_calls=[call]))
            else:
                replies.append(tool_step(tool, **arguments))
            approved = tool in (expert.approval or ())
        elif expert.tools and expert.tool_calling == "constrained" and not approved:
            replies += [StepReply(ANSWER_STEP), item]  # a step the expert skips when nothing needs a tool
        else:  # no tool phase, a native answer, or the answer after an approved call: the whole reply
            replies.append(item)
            approved = False
    return replies
