"""`slmguild ask` and `slmguild chat`: turns with the guild, streamed to the terminal."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from slmguild.errors import SlmguildError
from slmguild.orchestrator import (
    Done, Guild, Reply, Retrieved, Routed, Token, ToolCall, ToolResult, load_guild,
)

stderr = Console(stderr=True, highlight=False)

GuildOption = Annotated[
    Path,
    typer.Option(
        "--guild", "-g", envvar="SLMGUILD_GUILD", help="The guild file.", show_default=True
    ),
]
ExpertOption = Annotated[
    str | None,
    typer.Option("--expert", "-e", help="Ask this expert directly instead of routing."),
]


def ask(
    question: Annotated[str, typer.Argument(help="The question to ask.")],
    guild: GuildOption = Path("guild.yaml"),
    expert: ExpertOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reply as one JSON object, not a stream.")
    ] = False,
    trace: Annotated[bool, typer.Option("--trace", help="Show how the answer was made.")] = False,
) -> None:
    """Ask the guild one question and print the answer as it is generated."""
    loaded = load_guild(guild)
    if as_json:
        reply = loaded.run(question, expert=expert)
        typer.echo(json.dumps(asdict(reply), ensure_ascii=False, indent=2))
        return
    reply = _stream_turn(loaded, question, expert, [])
    if trace:
        stderr.print(_trace_tree(reply))


def chat(
    guild: GuildOption = Path("guild.yaml"),
    expert: ExpertOption = None,
    trace: Annotated[bool, typer.Option("--trace", help="Show each turn's trace.")] = False,
) -> None:
    """Talk with the guild. Commands: /expert NAME, /expert (route again), /trace, /quit."""
    loaded = load_guild(guild)
    history: list[BaseMessage] = []
    names = ", ".join([*loaded.experts, "fallback"])
    stderr.print(f"[bold]{loaded.name}[/] — experts: {names}. /quit to leave.")
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            stderr.print()
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/trace":
            trace = not trace
            stderr.print(f"trace {'on' if trace else 'off'}")
            continue
        if line.startswith("/expert"):
            expert = line.removeprefix("/expert").strip() or None
            stderr.print(f"talking to {expert or 'the guild'}")
            continue
        try:
            reply = _stream_turn(loaded, line, expert, history)
        except SlmguildError as exc:
            # The conversation so far stays; the user can fix the problem and go on.
            stderr.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            continue
        history += [HumanMessage(line), AIMessage(reply.text)]
        if trace:
            stderr.print(_trace_tree(reply))


def _stream_turn(guild: Guild, message: str, expert: str | None, history: list[BaseMessage]) -> Reply:
    """Print a turn's tokens as they come; return its reply."""
    for event in guild.stream(message, expert=expert, history=history):
        if isinstance(event, Routed):
            stderr.print(f"[dim]\\[{event.expert}][/]")
        elif isinstance(event, Retrieved):
            found = ", ".join(f"{hit.chunk.label} ({hit.score:.3f})" for hit in event.hits)
            stderr.print(f"[dim]found: {escape(found) or 'nothing'}[/]")
        elif isinstance(event, ToolCall):
            arguments = ", ".join(f"{key}={value!r}" for key, value in event.arguments.items())
            stderr.print(f"[dim]→ {event.tool}({escape(arguments)})[/]")
        elif isinstance(event, ToolResult):
            observation = event.observation
            stderr.print(f"[dim]← {observation.status}: {escape(_clip(observation.content))}[/]")
        elif isinstance(event, Token):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Done):
            sys.stdout.write("\n")
            return event.reply
    raise AssertionError("a turn always ends with Done")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _trace_tree(reply: Reply) -> Tree:
    tree = Tree(f"[bold]turn[/] → {reply.expert}")
    route = reply.trace.get("route", {})
    tree.add(f"route: {route.get('expert')} ({route.get('reason')})")
    tree.add(f"model: {reply.trace.get('model')}")
    if retrieved := reply.trace.get("retrieved"):
        node = tree.add(f"retrieved: {len(retrieved)} chunks")
        for hit in retrieved:
            heading = f" — {hit['heading']}" if hit["heading"] else ""
            node.add(f"{hit['rank']}. [{hit['chunk']}] {escape(hit['source'] + heading)} score {hit['score']}")
    for call in reply.trace.get("tools", []):
        arguments = json.dumps(call["arguments"], ensure_ascii=False)
        node = tree.add(f"tool: {call['tool']} {escape(arguments)} → {call['status']} ({call['duration_s']} s)")
        node.add(escape(_clip(call["content"])))
    usage = reply.trace.get("usage", {})
    tree.add(
        f"tokens: {usage.get('input_tokens', '?')} in, {usage.get('output_tokens', '?')} out; "
        f"first token {reply.trace.get('first_token_s')} s, total {reply.trace.get('latency_s')} s"
    )
    return tree
