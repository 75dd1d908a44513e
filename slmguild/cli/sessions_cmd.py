"""`slmguild sessions`: saved conversations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from slmguild.cli.turns import GuildOption, approval_note, trace_tree
from slmguild.errors import SlmguildError
from slmguild.orchestrator import load_guild

console = Console(highlight=False)
sessions = typer.Typer(help="Saved conversations: list, show, export, delete.", no_args_is_help=True)
SessionName = Annotated[str, typer.Argument(help="The session's name.")]


@sessions.command("list")
def list_(guild: GuildOption = Path("guild.yaml")) -> None:
    """List the saved sessions, most recently active first."""
    loaded = load_guild(guild)
    for name in loaded.sessions():
        state = loaded.session(name)
        console.print(f"{escape(name)}  [dim]{len(state['traces'])} turns, with {state['expert'] or '-'}[/]")


@sessions.command("show")
def show(
    name: SessionName,
    guild: GuildOption = Path("guild.yaml"),
    trace: Annotated[bool, typer.Option("--trace", help="Show each turn's trace as a tree.")] = False,
) -> None:
    """Print a session's conversation, turn by turn."""
    state = _existing(load_guild(guild), name)
    for turn in state["traces"]:
        console.print(f"[bold]you>[/] {escape(turn.message)}")
        console.print(f"[bold]{escape(turn.expert)}>[/] {escape(turn.text)}")
        for call in (call for part in turn.all_parts() for call in part.tools if call.approval):
            console.print(f"[dim]{escape(call.tool)}: {escape(approval_note(call))}[/]")
        if trace:
            console.print(trace_tree(turn, turn.expert))
        console.print()


@sessions.command("export")
def export(name: SessionName, guild: GuildOption = Path("guild.yaml")) -> None:
    """Print a session as JSON: every turn with its message, answer and trace."""
    state = _existing(load_guild(guild), name)
    turns = [turn.model_dump(mode="json") for turn in state["traces"]]
    typer.echo(json.dumps({"session": name, "turns": turns}, ensure_ascii=False, indent=2))


@sessions.command("delete")
def delete(name: SessionName, guild: GuildOption = Path("guild.yaml")) -> None:
    """Delete a saved session."""
    loaded = load_guild(guild)
    _existing(loaded, name)
    loaded.delete_session(name)
    console.print(f"deleted {escape(name)}")


def _existing(guild, name: str) -> dict:
    state = guild.session(name)
    if not state["traces"]:
        raise SlmguildError(f"no session named '{name}' (see `slmguild sessions list`)")
    return state
