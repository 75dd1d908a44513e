"""The typer application, its global options and its error handling."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

import slmguild
from slmguild.errors import SlmguildError

stderr = Console(stderr=True)


class _SlmguildGroup(TyperGroup):
    """Prints a `SlmguildError` as a short message with exit code 2, not a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer passes its own Context
        try:
            return super().invoke(ctx)
        except SlmguildError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            stderr.print("[dim](run with --debug for the traceback)[/]")
            ctx.exit(2)


app = typer.Typer(
    cls=_SlmguildGroup,
    help="A guild of specialized small language models: ask, chat, manage models and configs.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"slmguild {slmguild.__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show what slmguild does.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


from slmguild.cli import (
    config_cmd,
    eval_cmd,
    finetune_cmd,
    graph_cmd,
    keys_cmd,
    knowledge_cmd,
    mcp_cmd,
    models_cmd,
    router_cmd,
    serve_cmd,
    sessions_cmd,
    test_cmd,
    turns,
)

app.add_typer(models_cmd.app, name="models")
app.add_typer(config_cmd.app, name="config")
app.add_typer(knowledge_cmd.app, name="knowledge")
app.add_typer(sessions_cmd.sessions, name="sessions")
app.add_typer(keys_cmd.keys, name="keys")
app.add_typer(router_cmd.app, name="router")
app.add_typer(finetune_cmd.app, name="finetune")
app.command(name="ask")(turns.ask)
app.command(name="chat")(turns.chat)
app.command(name="ingest")(knowledge_cmd.ingest)
app.command(name="test")(test_cmd.test)
app.command(name="eval")(eval_cmd.evaluate)
app.command(name="serve")(serve_cmd.serve)
app.command(name="graph")(graph_cmd.graph)
app.command(name="mcp")(mcp_cmd.mcp)
