"""`slmguild finetune data`: build, inspect and synthesize an expert's fine-tuning data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import track

from slmguild.cli.turns import GuildOption
from slmguild.errors import SlmguildError
from slmguild.finetune import assign_splits, dedupe, load_examples, synthesize, write_examples
from slmguild.orchestrator import load_guild

console = Console(highlight=False)
app = typer.Typer(help="Fine-tuning: datasets for each expert's adapter.", no_args_is_help=True)
data = typer.Typer(help="Datasets: build (validate, dedupe, split), inspect, synthesize.", no_args_is_help=True)
app.add_typer(data, name="data")
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Where to write the chat-format JSON lines.")]


@data.command("build")
def build(
    inputs: Annotated[list[Path], typer.Argument(help="JSON-lines files: chat, ShareGPT or alpaca format.")],
    out: OutOption,
    eval_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share held out for evaluation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the train/eval draw.")] = 0,
) -> None:
    """Validate, merge, dedupe and split datasets into one chat-format file.

    Examples that carry a `split` keep it; the others are drawn at random (seeded).
    A malformed line stops the build with its file and line number.
    """
    examples = [example for path in inputs for example in load_examples(path)]
    unique, dropped = dedupe(examples)
    split = assign_splits(unique, eval_fraction=eval_fraction, seed=seed)
    write_examples(out, split)
    counts = Counter(example.split for example in split)
    console.print(f"{out}: {counts['train']} train, {counts['eval']} eval ({dropped} duplicates dropped)")


@data.command("inspect")
def inspect(path: Annotated[Path, typer.Argument(help="A dataset file.")]) -> None:
    """Counts, lengths and the first example of a dataset."""
    examples = load_examples(path)
    counts = Counter(example.split or "unsplit" for example in examples)
    _, duplicates = dedupe(examples)
    answers = [len(example.messages[-1].content.split()) for example in examples]
    console.print(f"{path}: {len(examples)} examples ({', '.join(f'{n} {k}' for k, n in counts.items())}), "
                  f"{duplicates} duplicates, answers {min(answers)}–{max(answers)} words "
                  f"(mean {sum(answers) / len(answers):.0f})")
    for message in examples[0].messages:
        console.print(f"[bold]{message.role}>[/] {escape(message.content)}")


@data.command("synth")
def synth(
    expert: Annotated[str, typer.Option("--expert", "-e", help="Whose documents to write questions about.")],
    out: OutOption,
    guild: GuildOption = Path("guild.yaml"),
    per_passage: Annotated[int, typer.Option(min=1, max=5, help="Question-answer pairs per chunk.")] = 2,
    limit: Annotated[int | None, typer.Option(help="At most this many chunks (a quick look).")] = None,
) -> None:
    """Write question-answer pairs from an expert's documents with a teacher model.

    The teacher is the guild's escalation model when it has one (a larger model writes
    better data), else the expert's own model. Its output is decoded under a JSON schema.
    """
    loaded = load_guild(guild)
    member = loaded.expert(expert)
    teacher = loaded.escalation or member
    if loaded.escalation is None:
        console.print(f"[yellow]no escalation model: {expert}'s own model writes the data[/]")
    from slmguild.knowledge.chunks import chunk_file

    settings = loaded.config.knowledge
    passages = [
        chunk.text
        for source, path in loaded.knowledge.source_files(expert)
        for chunk in chunk_file(path, source, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    ][:limit]
    if not passages:
        raise SlmguildError(f"'{expert}' has no documents to write questions about (knowledge.sources)")
    examples = []
    for passage in track(passages, description=f"{expert}: writing questions", console=console):
        examples += synthesize(teacher.model, [passage], per_passage=per_passage)
    if not examples:
        raise SlmguildError("the teacher wrote no usable pair: try a larger teacher (escalation:)")
    write_examples(out, examples)
    console.print(f"{out}: {len(examples)} examples from {len(passages)} chunks (run `finetune data build` to split)")
