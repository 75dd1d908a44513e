"""`slmguild graph`: the turn's steps as a Mermaid diagram."""

from __future__ import annotations

from pathlib import Path

import typer

from slmguild.cli.turns import GuildOption
from slmguild.orchestrator import load_guild


def graph(guild: GuildOption = Path("guild.yaml")) -> None:
    """Print the graph a turn runs through, as Mermaid (paste it into a Markdown file).

    Each node is a step: route, retrieve, tool_step (it loops), approve (the turn waits
    for the user), answer, escalate, multi (several experts at once).
    """
    typer.echo(load_guild(guild).graph().get_graph().draw_mermaid())
