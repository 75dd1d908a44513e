"""`slmguild router`: train a router on the guild's exemplars, or calibrate the centroids'
thresholds, on labelled requests."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from slmguild.cli.turns import GuildOption
from slmguild.config import edit_config
from slmguild.errors import ConfigError
from slmguild.evaluation.data import read_jsonl
from slmguild.orchestrator import load_guild
from slmguild.orchestrator.trained_router import (
    RoutingCosts,
    calibrate,
    encoder_files,
    fit_router_model,
    labelled_vectors,
    tuned_embedder,
)

console = Console(highlight=False)
app = typer.Typer(help="Routing: train a router, or calibrate the exemplar thresholds.", no_args_is_help=True)

LabelledOption = Annotated[
    Path,
    typer.Option(
        "--data",
        help='Labelled requests, JSON lines {"text": ..., "expert": NAME or null} (null: nobody owns it), '
        "never the exemplars: thresholds are fitted on them.",
    ),
]


def _labelled(path: Path, experts: list[str]) -> list[tuple[str, str | None]]:
    rows = read_jsonl(path, ["text"])
    unknown = {row["expert"] for row in rows if row.get("expert")} - set(experts)
    if unknown:
        raise ConfigError(f"{path}: experts not in the guild: {', '.join(sorted(unknown))}")
    return [(str(row["text"]), row.get("expert")) for row in rows]


@app.command("train")
def train(
    data: LabelledOption,
    guild: GuildOption = Path("guild.yaml"),
    out: Annotated[
        Path | None, typer.Option(help="Where to save the model (default: GUILD.router.npz beside the guild file).")
    ] = None,
    cost_refused: Annotated[float, typer.Option(help="Cost of sending a request an expert owns to the fallback.")] = 1.0,
    cost_misrouted: Annotated[float, typer.Option(help="Cost of sending a request to the wrong expert.")] = 1.0,
    cost_accepted: Annotated[float, typer.Option(help="Cost of giving a request nobody owns to an expert.")] = 1.0,
    out_of_scope_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Expected share of requests that no expert owns.")
    ] = 0.1,
    tune_encoder: Annotated[
        bool,
        typer.Option(help="Also tune a copy of the sentence encoder on the exemplars, for routing only (needs "
                     "`slmguild[finetune]` and `slmguild models pull all-minilm-l6-v2`; a few minutes on a CPU)."),
    ] = False,
) -> None:
    """Train the guild's router: a classifier over the embeddings of every expert's exemplars
    (one class per sub-topic, and one per tool, from its examples), of its ingested documents (one class per file; run
    `slmguild ingest` first, and train again when they change) and of requests nobody owns (shipped general requests plus
    `routing.out_of_scope`). Its threshold is the one with the least expected cost on the
    labelled requests (--data). Saves the model and sets `routing.model` in the guild file.

    With --tune-encoder, the router embeds requests with its own copy of all-MiniLM-L6-v2,
    tuned so that exemplars of one sub-topic embed close together and those of different
    ones apart (saved beside the model as an int8 ONNX file, ~23 MB); the knowledge stores
    keep their embedder."""
    loaded = load_guild(guild)
    rows = _labelled(data, list(loaded.experts))
    target = out or guild.with_name(f"{guild.stem}.router.npz")
    exemplars = loaded.routing.training_exemplars()
    documents = loaded.routing.routing_documents()
    if missing := [name for name, expert in loaded.config.experts.items()
                   if expert.knowledge.sources and name not in documents]:
        console.print(f"[yellow]not ingested, so left out: the documents of {', '.join(missing)} "
                      f"(run `slmguild ingest -g {guild}` first)[/]")
    with tempfile.TemporaryDirectory(prefix=".slmguild-router-", dir=target.resolve().parent) as tmp:
        # Tuned into a scratch folder, moved beside the model only as the model is saved: a
        # run that fails or is stopped leaves the last router and its encoder as they were.
        scratch = encoder_files(Path(tmp) / target.name)
        if tune_encoder:
            _tune(exemplars, scratch)
            embedder = tuned_embedder(Path(tmp) / target.name)
        else:
            embedder = loaded.knowledge.embedder
        with console.status("embedding the exemplars and documents, fitting the router..."):
            model = fit_router_model(
                embedder, exemplars, loaded.routing.out_of_scope_examples(),
                embedder_name=loaded.knowledge.embedder_name, documents=documents,
            )
            vectors, labels = labelled_vectors(embedder, rows)
        costs = RoutingCosts(cost_refused, cost_misrouted, cost_accepted, out_of_scope_share)
        result = calibrate(model, vectors, labels, costs)
        model.tuned_encoder = tune_encoder
        for made, kept in zip(scratch, encoder_files(target), strict=True):
            if tune_encoder:
                made.replace(kept)
            else:
                kept.unlink(missing_ok=True)  # a former tuned encoder that this model does not use
        model.save(target)
    table = Table(title=f"{loaded.name}: trained router on {data.name} ({result.rows} requests)")
    for column in ("threshold", "accuracy", "in-scope accuracy", "in-scope refused", "out-of-scope refused"):
        table.add_column(column, justify="right")
    refused_oos = "-" if result.out_of_scope_refused is None else f"{result.out_of_scope_refused:.3f}"
    table.add_row(f"{result.threshold:.4f}", f"{result.accuracy:.3f}", f"{result.in_scope_accuracy:.3f}",
                  f"{result.in_scope_refused:.3f}", refused_oos)
    console.print(table)
    relative = target.name if target.resolve().parent == guild.resolve().parent else str(target.resolve())
    edit_config(guild, lambda document: _set_routing(document, "model", relative))
    console.print(f"saved {target}; routing.model in {guild} points to it")


@app.command("calibrate")
def calibrate_thresholds(
    data: LabelledOption,
    guild: GuildOption = Path("guild.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print, do not write the file.")] = False,
) -> None:
    """Fit each expert's threshold for the exemplar centroids (the untrained router) on
    labelled requests and write them to the guild file (`routing.thresholds`), keeping its
    comments and layout."""
    loaded = load_guild(guild)
    rows = _labelled(data, list(loaded.experts))
    thresholds = loaded.routing.embedding_router.calibrate(rows)
    for name, value in sorted(thresholds.items()):
        console.print(f"{name}: {value}")
    if dry_run:
        return
    values = {name: float(value) for name, value in sorted(thresholds.items())}
    edit_config(guild, lambda document: _set_routing(document, "thresholds", values))
    console.print(f"wrote routing.thresholds to {guild}")


def _tune(exemplars: dict[str, dict[str, list[str]]], files: tuple[Path, Path]) -> None:
    """Tune the routing encoder on the exemplars' sub-topics, with a progress bar."""
    from slmguild.finetune.router_encoder import tune_encoder

    classes = [texts for topics in exemplars.values() for texts in topics.values()]
    with Progress(*Progress.get_default_columns(), console=console) as progress:
        task = progress.add_task("tuning the routing encoder", total=None)
        tune_encoder(classes, *files, progress=lambda step, steps: progress.update(task, completed=step, total=steps))


def _set_routing(document: Any, key: str, value: Any) -> None:
    document.setdefault("routing", {})[key] = value
