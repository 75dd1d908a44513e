"""`slmguild sessions` (saved conversations) and `slmguild router calibrate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from slmguild.cli.turns import GuildOption, trace_tree
from slmguild.config import edit_config
from slmguild.errors import ConfigError, SlmguildError
from slmguild.orchestrator import load_guild

console = Console(highlight=False)
sessions = typer.Typer(help="Saved conversations: list, show, export, delete.", no_args_is_help=True)
router = typer.Typer(help="Routing: fit the experts' thresholds on labelled requests.", no_args_is_help=True)
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
        console.print(f"[bold]you>[/] {escape(turn['message'])}")
        console.print(f"[bold]{escape(turn['expert'])}>[/] {escape(turn['text'])}")
        if trace:
            console.print(trace_tree(turn, turn["expert"]))
        console.print()


@sessions.command("export")
def export(name: SessionName, guild: GuildOption = Path("guild.yaml")) -> None:
    """Print a session as JSON: every turn with its message, answer and trace."""
    state = _existing(load_guild(guild), name)
    typer.echo(json.dumps({"session": name, "turns": state["traces"]}, ensure_ascii=False, indent=2))


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


@router.command("calibrate")
def calibrate(
    data: Annotated[
        Path,
        typer.Option(help='JSON lines {"text": ..., "expert": NAME or null}; null: no expert owns it.'),
    ],
    guild: GuildOption = Path("guild.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print, do not write the file.")] = False,
) -> None:
    """Fit each expert's routing threshold on labelled requests and write them to the
    guild file (`routing.thresholds`), keeping its comments and layout."""
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    loaded = load_guild(guild)
    unknown = {row["expert"] for row in rows if row.get("expert")} - set(loaded.experts)
    if unknown:
        raise ConfigError(f"{data}: experts not in the guild: {', '.join(sorted(unknown))}")
    thresholds = loaded.embedding_router.calibrate((row["text"], row.get("expert")) for row in rows)
    for name, value in sorted(thresholds.items()):
        console.print(f"{name}: {value}")
    if dry_run:
        return
    edit_config(
        guild,
        lambda document: document.setdefault("routing", {}).__setitem__(
            "thresholds", {name: float(value) for name, value in sorted(thresholds.items())}
        ),
    )
    console.print(f"wrote routing.thresholds to {guild}")
