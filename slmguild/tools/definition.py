"""`slmguild.tool`: langchain-core's `@tool`, with argument docs from the docstring and
optional example calls that show a small model when and how to call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.tools import tool as langchain_tool

Example = tuple[str, dict[str, Any]]


def tool(
    func: Callable[..., Any] | None = None,
    *,
    examples: Sequence[Example] = (),
    changes: bool = False,
    says: str | Sequence[str] | None = None,
    **options: Any,
) -> Any:
    """Make a tool of a sync or async function; its schema comes from hints and docstring.

        @slmguild.tool(examples=[("Any news on IT-1234?", {"ticket_id": "IT-1234"})])
        def ticket_status(ticket_id: str) -> dict:
            '''The status of an IT ticket.

            Args:
                ticket_id: The ticket's id, like IT-1042.
            '''

    Arguments are validated by pydantic before the function runs: `Literal[...]`,
    `Annotated[str, Field(pattern=...)]` and friends become constraints of the JSON
    schema that the model decodes under. `examples` are (request, arguments) pairs
    shown to the model as earlier turns: small models copy a demonstrated call far
    better than they follow a description. `changes=True` declares that the tool changes
    something (opens a ticket, places an order): a request that only asks for
    information never runs it (`slmguild.tools.side_effects`). `says` is the sentence
    the user reads for a result, a `str.format` template over the returned dict's keys
    ("The {category} limit is {limit_eur} EUR {unit}."), or several, the first that the
    result fills (a result with no amount reads differently); without one, or when no
    template fits, the result is written as "tool: key value, ..." — never as raw JSON.
    Other options are langchain-core's `@tool` options; `parse_docstring` defaults to
    True so each argument's description reaches the model.
    """
    options.setdefault("parse_docstring", True)

    def make(function: Callable[..., Any]) -> BaseTool:
        made = langchain_tool(function, **options)
        if examples:
            made.metadata = {**(made.metadata or {}), "examples": [tuple(e) for e in examples]}
        if changes:
            made.metadata = {**(made.metadata or {}), "changes": True}
        if says:
            made.metadata = {**(made.metadata or {}), "says": says if isinstance(says, str) else list(says)}
        return made

    return make if func is None else make(func)


def examples_of(item: BaseTool) -> list[Example]:
    """The example calls a tool was given (none for plain langchain tools)."""
    return list((item.metadata or {}).get("examples", []))
