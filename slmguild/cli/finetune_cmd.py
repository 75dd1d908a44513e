"""`slmguild finetune`: datasets, training, export and evaluation of each expert's adapter."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TextColumn, track
from rich.table import Table

from slmguild.cli.turns import GuildOption
from slmguild.config import GuildConfig, load_config
from slmguild.errors import (
    BackendUnavailable,
    SlmguildError,
    UnknownExpert,
)
from slmguild.evaluation import draft_counts, reference_rows
from slmguild.finetune import (
    AdapterFiles,
    Example,
    GainReport,
    TrainSettings,
    adapter_gain,
    assign_splits,
    dedupe,
    export_adapter,
    load_examples,
    register_adapter,
    serving_base,
    synthesize,
    train,
    write_examples,
)
from slmguild.orchestrator import load_guild
from slmguild.serving import backend_errors
from slmguild.serving.ollama_backend import create_model

console = Console(highlight=False)
app = typer.Typer(
    help="Fine-tuning: each expert's LoRA adapter, from its dataset to a served, measured adapter.",
    no_args_is_help=True,
)
data = typer.Typer(help="Datasets: build (validate, dedupe, split), inspect, questions (by a teacher model or by "
                   "rules), the expert's work.",
                   no_args_is_help=True)
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
    teacher = loaded.roster.escalation or member
    if loaded.roster.escalation is None:
        console.print(f"[yellow]no escalation model: {expert}'s own model writes the data[/]")
    passages = [chunk.text for chunk in loaded.knowledge.document_chunks(expert)][:limit]
    if not passages:
        raise SlmguildError(f"'{expert}' has no documents to write questions about (knowledge.sources)")
    examples = []
    for passage in track(passages, description=f"{expert}: writing questions", console=console):
        examples += synthesize(teacher.model, [passage], per_passage=per_passage)
    if not examples:
        raise SlmguildError("the teacher wrote no usable pair: try a larger teacher (escalation:)")
    write_examples(out, examples)
    console.print(f"{out}: {len(examples)} examples from {len(passages)} chunks (run `finetune data build` to split)")


@data.command("questions")
def questions_command(
    expert: Annotated[str, typer.Option("--expert", "-e", help="Whose documents to ask about.")],
    out: Annotated[Path, typer.Option("--out", "-o", help='Where to write {"question", "answer", "source", '
                                      '"expert"} JSON lines (the input of `data work`).')],
    guild: GuildOption = Path("guild.yaml"),
    show: Annotated[int, typer.Option(help="Print this many of the questions, spread over the documents.")] = 5,
) -> None:
    """Questions about an expert's documents written by rules, without a teacher model.

    Each sentence that states a figure (an amount, a share, a date, a time, a count of
    something) becomes a question that asks for it where it stands — "Up to 5 unused days
    carry over" gives "Up to how many unused days carry over ...?" — and the sentence is its
    answer. Pass the file to `finetune data work -q`: it pairs each question with what the
    expert's search returns.
    """
    import json

    from slmguild.finetune.document_questions import chunk_questions

    loaded = load_guild(guild)
    loaded.expert(expert)  # an unknown expert fails here, with the guild's experts named
    asked = chunk_questions(loaded.knowledge.document_chunks(expert))
    if not asked:
        raise SlmguildError(f"no sentence of '{expert}'s documents states a figure to ask about")
    rows = [{"question": q.text, "answer": q.answer, "source": q.source, "expert": expert} for q in asked]
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    console.print(f"{out}: {len(rows)} questions from {len({q.source for q in asked})} documents")
    for question in asked[:: max(1, len(asked) // show)][:show] if show else ():
        console.print(f"  [bold]{escape(question.text)}[/]\n    {escape(question.answer)}")


@data.command("work")
def work(
    expert: Annotated[str, typer.Option("--expert", "-e", help="The expert whose work the data is.")],
    questions: Annotated[
        list[Path],
        typer.Option("--questions", "-q", help='JSON lines: {"question", "answer", "source"?, "expert"?} rows '
                     "(rows of other experts skipped) or chat examples. Repeat for several files."),
    ],
    out: OutOption,
    guild: GuildOption = Path("guild.yaml"),
    distractors: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of questions also asked with the answer's document taken out.")] = 0.2,
    held_out_documents: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Share of the expert's documents whose questions are the eval split.")] = 0.2,
    steps: Annotated[bool, typer.Option(help="Also the tool-step decisions of the expert's labelled requests.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the distractor and held-out draws.")] = 0,
) -> None:
    """Training data that is the expert's own work, in the prompts it is served with.

    Its grounded answers from what its own search returns (RAFT), and its tool steps.

    Run `slmguild ingest` first: the questions go through the expert's search.
    """
    from slmguild.evaluation.data import read_jsonl
    from slmguild.finetune.expert_work import expert_work, questions_from_rows

    member = load_guild(guild).expert(expert)
    asked = [q for path in questions for q in questions_from_rows(read_jsonl(path, []), expert)]
    if not asked:
        raise SlmguildError(f"no question of '{expert}' in {', '.join(map(str, questions))}")
    with Progress(TextColumn("{task.description}"), *Progress.get_default_columns()[1:], console=console) as bar:
        task = bar.add_task(f"{expert}: searching and drafting targets", total=len(asked))
        made = expert_work(member, asked, distractor_share=distractors, held_out_share=held_out_documents,
                           steps=steps, seed=seed, progress=lambda done, _: bar.update(task, completed=done))
    write_examples(out, made.examples)
    split, counts = Counter(example.split for example in made.examples), made.counts
    console.print(f"{out}: {split['train']} train, {split['eval']} eval ({counts.duplicates} duplicates dropped) — "
                  f"{counts.answered} answers, {counts.not_in_notes} with distractors only, {counts.steps} tool "
                  f"steps; left out: {counts.unsupported} references the passages do not support, "
                  f"{counts.nothing_found} questions the search found nothing for")
    if made.held_out:
        console.print(f"eval documents: {', '.join(sorted(made.held_out))}")


ExpertOption = Annotated[str, typer.Option("--expert", "-e", help="The expert whose adapter it is.")]
DataOption = Annotated[
    Path | None, typer.Option("--data", "-d", help="Its dataset [default: finetune/EXPERT.jsonl beside the guild file].")
]


def _expert_config(guild: Path, expert: str) -> GuildConfig:
    config = load_config(guild)
    if expert not in config.experts:
        raise UnknownExpert(f"{guild}: no expert '{expert}' (experts: {', '.join(config.experts)})")
    return config


def _dataset(guild: Path, expert: str, data: Path | None) -> list[Example]:
    return load_examples(data or guild.resolve().parent / "finetune" / f"{expert}.jsonl")


@app.command("train")
def train_command(
    expert: ExpertOption,
    guild: GuildOption = Path("guild.yaml"),
    data: DataOption = None,
    base: Annotated[Path | None, typer.Option(
        help="Train on this base (an HF model directory or a GGUF) [default: the GGUF the expert serves].")] = None,
    max_steps: Annotated[int | None, typer.Option("--steps", min=1, help="Stop after this many steps.")] = None,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the data (unless --steps).")] = 1,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate.")] = 2e-4,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank r.")] = 16,
    alpha: Annotated[float, typer.Option(min=0.0, help="LoRA alpha (updates scale by alpha / r).")] = 32,
    max_length: Annotated[int | None, typer.Option(
        min=16, help="Tokens per example; longer ones are cut \\[default: the longest example's length].")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per step and device.")] = 4,
    gradient_accumulation: Annotated[int, typer.Option(min=1, help="Batches per optimizer step.")] = 1,
    gradient_checkpointing: Annotated[bool, typer.Option(help="Recompute activations: less memory, slower.")] = False,
    quantize: Annotated[Literal["auto", "4bit", "none"], typer.Option(help="auto: 4-bit QLoRA on CUDA if slmguild\\[qlora] is installed, else full precision; 4bit; none.")] = "auto",
    save_steps: Annotated[int, typer.Option(min=1, help="Save a checkpoint every this many steps.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and dropout.")] = 0,
    resume: Annotated[bool, typer.Option(help="Go on from the last checkpoint of a stopped run.")] = True,
    register: Annotated[bool, typer.Option(help="Make the new adapter the expert's in the guild file.")] = True,
) -> None:
    """Train an expert's LoRA adapter, export it for the engines, and register it.

    Writes adapters/EXPERT/ beside the guild file (PEFT adapter, GGUF LoRA, Ollama
    Modelfile, checkpoints) and sets the expert's model.adapter and model.adapter_base.
    Needs the finetune extra: pip install 'slmguild\\[finetune]'.
    """
    config = _expert_config(guild, expert)
    examples = _dataset(guild, expert, data)
    serving = serving_base(config, expert)
    base = base or serving
    settings = TrainSettings(
        rank=rank, alpha=alpha, learning_rate=learning_rate, epochs=epochs, max_steps=max_steps,
        max_length=max_length, batch_size=batch_size, gradient_accumulation=gradient_accumulation,
        gradient_checkpointing=gradient_checkpointing, save_steps=save_steps, seed=seed, quantize=quantize,
    )
    files = AdapterFiles.of(guild, expert)
    console.print(f"training {expert}'s adapter on {base.name}: {sum(e.split != 'eval' for e in examples)} examples")
    with Progress(*Progress.get_default_columns(), TextColumn("loss {task.fields[loss]}"), console=console) as bar:
        task = bar.add_task(f"{expert}: training", total=None, loss="–")

        def progress(step: int, total: int, loss: float | None) -> None:
            bar.update(task, completed=step, total=total, loss=f"{loss:.3f}" if loss is not None else "–")

        result = train(examples, base, files.folder, settings, system_prompt=config.experts[expert].system_prompt,
                       resume=resume, progress=progress)
    if result.resumed_from:
        console.print(f"resumed from {result.resumed_from}")
    if result.cut:
        console.print(f"[yellow]{result.cut} examples were longer than --max-length {max_length}: cut, and their "
                      "answers not learnt[/]")
    console.print(f"{result.steps} steps on {result.device}{' (4-bit)' if result.quantized else ''}: "
                  f"{result.seconds_per_step:.2f} s/step, final loss {result.final_loss or float('nan'):.3f}, "
                  f"peak memory {result.peak_memory_bytes / 2**30:.2f} GiB")
    trained_hash = export_adapter(files, serving, base)
    if trained_hash is None:
        console.print(f"[yellow]trained on an HF directory: slmguild cannot check that {serving.name} "
                      "holds the same weights, so the adapter is registered without a base hash[/]")
    console.print(f"wrote {files.gguf} and {files.modelfile}")
    adapter = _served_adapter(config, expert, files, guild)
    if register:
        register_adapter(guild, expert, adapter, trained_hash)
        console.print(f"{guild}: experts.{expert}.model.adapter = {adapter}")


def _served_adapter(config: GuildConfig, expert: str, files: AdapterFiles, guild: Path) -> str:
    """What the expert's backend loads: the GGUF LoRA, or for Ollama (which cannot swap
    adapters per request) a model created from the Modelfile."""
    spec = config.model_for(expert)
    if spec.backend != "ollama":
        return files.gguf.relative_to(guild.resolve().parent).as_posix()
    tag = f"{config.name}-{expert}"
    try:
        with backend_errors(spec):
            create_model(spec, tag, files.modelfile)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"{exc}; once it runs: ollama create {tag} -f {files.modelfile}") from None
    console.print(f"created Ollama model {tag}")
    return tag


@app.command("eval")
def eval_command(
    expert: ExpertOption,
    guild: GuildOption = Path("guild.yaml"),
    answers: Annotated[Path | None, typer.Option(
        "--answers", "-a", help='Held-out questions, JSON lines {"question", "answer", "keys", "expert"?} as for '
        "`slmguild eval --answers` (rows of other experts skipped).")] = None,
    tools: Annotated[Path | None, typer.Option(
        "--tools", "-t", help='Held-out requests, JSON lines {"prompt", "expert", "tool": NAME or null, '
        '"arguments"} (rows of other experts skipped).')] = None,
    control: Annotated[Path | None, typer.Option(
        help="Off-domain control questions, chat examples \\[default: finetune/control.jsonl beside the "
        "guild file, if any].")] = None,
    adapter: Annotated[Path | None, typer.Option(help="Evaluate this GGUF LoRA \\[default: the expert's].")] = None,
    show: Annotated[int, typer.Option(help="Print this many answers that the adapter changed, side by side.")] = 0,
) -> None:
    """Measure the expert without and with its adapter, on what it was not trained on.

    Answers: each held-out question asked of the expert through the guild (its
    search, tools and answer flow, as served): correct (every key fact stated),
    and answers with unsupported figures. Tool phase, the model deciding
    (tool_choice: model): right tool, right arguments, false calls. Control: of
    the off-domain questions the base answered right, the share still right.
    Greedy decoding, so runs compare. Run `slmguild ingest` first.
    """
    from slmguild.evaluation.data import read_jsonl
    from slmguild.evaluation.tool_calls import tool_case_rows

    config = _expert_config(guild, expert)
    served = str(adapter.resolve()) if adapter else config.model_for(expert).adapter
    if served is None:
        raise SlmguildError(f"'{expert}' has no adapter: train one (`finetune train`) or pass --adapter")
    questions = reference_rows([row for row in read_jsonl(answers, ["question", "answer"])
                                if row.get("expert", expert) == expert]) if answers else []
    cases = [case for case in tool_case_rows(read_jsonl(tools, ["prompt", "expert", "tool"]))
             if case.expert == expert] if tools else []
    control = control or guild.resolve().parent / "finetune" / "control.jsonl"
    controls = load_examples(control) if control.is_file() else []
    if not (questions or cases or controls):
        raise SlmguildError(f"nothing to measure '{expert}' on: give --answers and/or --tools with rows of "
                            "this expert, or --control")
    with Progress(console=console) as bar:
        task = bar.add_task(f"{expert}: without, then with the adapter", total=None)
        report = adapter_gain(config, expert, served, answers=questions, tools=cases, control=controls,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(_report_table(report))
    before, after = report.before.answers, report.after.answers
    if before is not None and after is not None:
        changed = [(old, new) for old, new in zip(before.answered, after.answered, strict=True)
                   if old.answer != new.answer]
        for old, new in changed[:show]:
            console.print(f"[bold]Q[/] {escape(old.question)}\n  [dim]reference[/] {escape(old.reference)}\n"
                          f"  [dim]before[/] {escape(old.answer)}\n  [dim]after[/] {escape(new.answer)}")


def _report_table(report: GainReport) -> Table:
    table = Table(title=f"{report.expert}: without vs with the adapter (greedy decoding)")
    for column in ("measure", "of", "before", "after", "change"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    before, after = report.before, report.after
    if before.answers is not None and after.answers is not None:
        keyed = sum(bool(item.keys) for item in before.answers.answered)
        if before.answers.correct is not None and after.answers.correct is not None:
            table.add_row("answers correct", str(keyed), f"{before.answers.correct:.3f}",
                          f"{after.answers.correct:.3f}", f"{after.answers.correct - before.answers.correct:+.3f}")
        table.add_row("answers with unsupported figures", str(len(before.answers.answered)),
                      f"{before.answers.unsupported:.1%}", f"{after.answers.unsupported:.1%}",
                      f"{(after.answers.unsupported - before.answers.unsupported) * 100:+.1f} pts")
        # `correct` also counts the passages quoted when a draft is refused: an adapter that
        # gets wrong drafts past the check shows here first.
        drafts = draft_counts(before.answers.answered), draft_counts(after.answers.answered)
        for label, measure in (("drafts shown", "shown"), ("  of them without the key facts", "shown_without_keys")):
            old, new = (getattr(counts, measure) for counts in drafts)
            if any(counts.drafts for counts in drafts):  # grounded answers only
                table.add_row(label, str(len(before.answers.answered)), str(old), str(new), f"{new - old:+d}")
    if before.tools is not None and after.tools is not None:
        needing, needing_none = len(before.tools.needing), len(before.tools.needing_none)
        for label, measure, total in (("right tool (model decides)", "right_tool", needing),
                                      ("right tool and arguments", "right_arguments", needing),
                                      ("false calls (no tool needed)", "false_calls", needing_none)):
            old, new = getattr(before.tools, measure), getattr(after.tools, measure)
            table.add_row(label, str(total), str(old), str(new), f"{new - old:+d}")
    if report.control:
        right = sum(report.control_right)
        kept = report.control_kept
        table.add_row("control right, then kept", str(len(report.control)), str(right),
                      "-" if kept is None else f"{kept:.0%} kept", "")
    return table
