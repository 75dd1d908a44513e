"""`slmguild ingest` and `slmguild knowledge search`: build the experts' knowledge, look into it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from slmguild.cli.turns import GuildOption
from slmguild.config import load_config
from slmguild.knowledge import IngestReport, KnowledgeBase

console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)
app = typer.Typer(help="Knowledge: what an expert's search returns.", no_args_is_help=True)


def ingest(
    guild: GuildOption = Path("guild.yaml"),
    expert: Annotated[
        list[str] | None,
        typer.Option("--expert", "-e", help="Only this expert (repeat for several). Default: all."),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the collections and ingest everything again.")
    ] = False,
) -> None:
    """Read the experts' documents into their knowledge stores.

    Incremental: only new and changed files are read and embedded again, and the
    chunks of deleted files are removed, so running it again is cheap. Use --rebuild
    after changing the embedder or the chunk settings.
    """
    base = KnowledgeBase(load_config(guild))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def show(name: str, source: str | None, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, description=f"{name}: {source or 'done'}")

        reports = base.ingest(expert or None, rebuild=rebuild, progress=show)
    console.print(_report_table(reports))
    for report in reports:
        for source, why in report.skipped.items():
            stderr.print(f"[yellow]skipped[/] {report.expert}: {escape(source)}: {escape(why)}")
    console.print(f"store: {base.store.location}", soft_wrap=True)


def _report_table(reports: list[IngestReport]) -> Table:
    table = Table("expert", "added", "updated", "removed", "unchanged", "skipped", "chunks", "chunks/s")
    for r in reports:
        table.add_row(
            r.expert, str(len(r.added)), str(len(r.updated)), str(len(r.removed)),
            str(len(r.unchanged)), str(len(r.skipped)), str(r.chunks),
            f"{r.chunks_per_s:.1f}" if r.chunks else "-",
        )
    return table


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    expert: Annotated[str, typer.Option("--expert", "-e", help="Whose documents to search.")],
    guild: GuildOption = Path("guild.yaml"),
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", help="How many chunks.")] = None,
    mode: Annotated[
        str | None, typer.Option(help="hybrid, dense or sparse (default: the guild's setting).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Show what an expert's search returns for QUERY: chunks, scores, sources."""
    if mode not in (None, "hybrid", "dense", "sparse"):
        raise typer.BadParameter("use hybrid, dense or sparse", param_hint="--mode")
    base = KnowledgeBase(load_config(guild))
    if expert not in base.config.experts:
        raise typer.BadParameter(f"no expert '{expert}' in {guild}", param_hint="--expert")
    hits = base.search(expert, query, top_k=top_k, mode=mode)  # type: ignore[arg-type]
    if as_json:
        rows = [{"rank": h.rank, "score": h.score, **h.chunk.payload()} for h in hits]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("nothing found")
    for hit in hits:
        heading = f" — {hit.chunk.heading}" if hit.chunk.heading else ""
        console.print(f"[bold]{hit.rank}. {escape('[' + hit.chunk.label + ']')}[/] score {hit.score:.4f}  "
                      f"{escape(hit.chunk.source + heading)}")
        console.print(escape(hit.chunk.text), style="dim")
        console.print()
