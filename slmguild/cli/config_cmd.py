"""`slmguild config`: validate a guild file, print the JSON schema for editors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from slmguild.config import GuildConfig, load_config

app = typer.Typer(help="Guild files: validate them, print their JSON schema.", no_args_is_help=True)
console = Console(highlight=False)


@app.command("check")
def check(path: Annotated[Path, typer.Argument(help="The guild file to validate.")]) -> None:
    """Validate a guild file and summarize it; errors name the file, line and field."""
    config = load_config(path)
    console.print(
        f"[green]ok[/] {path}: guild [bold]{config.name}[/], {len(config.experts)} experts",
        soft_wrap=True,
    )
    table = Table("expert", "model", "exemplars", "knowledge", "tools")
    for name in [*config.experts, "fallback"]:
        spec = config.model_for(name)
        expert = config.experts.get(name)
        exemplars = sum(len(group) for group in expert.exemplar_groups().values()) if expert else 0
        model = f"{spec.backend}:{spec.name}" + (f" + {spec.adapter}" if spec.adapter else "")
        table.add_row(
            name,
            model,
            str(exemplars),
            str(len(expert.knowledge.sources)) if expert else "0",
            ", ".join(expert.tools) if expert else "",
        )
    console.print(table)
    if config.escalation:
        console.print(f"escalation: {config.escalation.backend}:{config.escalation.name}")


@app.command("schema")
def schema() -> None:
    """Print the JSON schema of guild files (point your editor's YAML plugin at it)."""
    typer.echo(json.dumps(GuildConfig.model_json_schema(), indent=2))
