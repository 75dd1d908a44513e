"""`slmguild ask` and `slmguild chat`: turns with the guild, streamed to the terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from slmguild.errors import SlmguildError
from slmguild.orchestrator import (
    Done,
    Escalated,
    Event,
    Handoff,
    PendingCall,
    Planned,
    Reply,
    Retrieved,
    Routed,
    Token,
    ToolCall,
    ToolResult,
    load_guild,
)
from slmguild.orchestrator.trace import StepTrace, ToolCallTrace, TurnTrace

stderr = Console(stderr=True, highlight=False)

GuildOption = Annotated[
    Path,
    typer.Option(
        "--guild", "-g", envvar="SLMGUILD_GUILD", help="The guild file.", show_default=True
    ),
]
ExpertOption = Annotated[
    str | None,
    typer.Option("--expert", "-e", help="Ask this expert directly instead of routing."),
]
SessionOption = Annotated[
    str | None,
    typer.Option("--session", "-s", help="A saved conversation to continue (created if new)."),
]
CHAT_HELP = (
    "/experts  list the experts · /expert NAME  talk to one expert · /expert  route again · "
    "/escalate [QUESTION]  ask the escalation model · /trace  toggle traces · "
    "/new  start a new session · /quit"
)


def ask(
    question: Annotated[str | None, typer.Argument(help="The question to ask.")] = None,
    guild: GuildOption = Path("guild.yaml"),
    expert: ExpertOption = None,
    session: SessionOption = None,
    escalate: Annotated[
        bool, typer.Option("--escalate", help="Send the question to the escalation model.")
    ] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="Run the call the session's last turn waits on.")
    ] = False,
    refuse: Annotated[
        bool, typer.Option("--refuse", help="Refuse the call the session's last turn waits on.")
    ] = False,
    edit: Annotated[
        str | None,
        typer.Option("--edit", metavar="JSON", help="Run the waiting call with these arguments instead."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reply as one JSON object, not a stream.")
    ] = False,
    trace: Annotated[bool, typer.Option("--trace", help="Show how the answer was made.")] = False,
    sources: Annotated[
        bool, typer.Option("--sources", help="Also print the passages the answer was made from, with their documents.")
    ] = False,
) -> None:
    """Ask the guild one question and print the answer as it is generated.

    The answer leads with what was asked and cites its document; --sources prints the
    passages it rests on, --trace how it was made.

    A request to do something that changes something (open a ticket, order a repair)
    stops before it runs, with what would run: answer it in the same session with
    --approve, --edit JSON or --refuse.
    """
    answers = [flag for flag, given in (("--approve", approve), ("--refuse", refuse), ("--edit", edit)) if given]
    if len(answers) > 1:
        raise SlmguildError(f"give one answer to the waiting call, not {' and '.join(answers)}")
    if answers and (session is None or question is not None):
        raise SlmguildError(f"{answers[0]} answers a waiting call: give its --session, and no question")
    if not answers and question is None:
        raise SlmguildError("ask a question: slmguild ask 'How do I reset my VPN password?'")
    loaded = load_guild(guild)
    if answers:
        assert session is not None
        events = loaded.resume_stream(session, _edited(edit) if edit is not None else approve)
    else:
        assert question is not None
        events = loaded.stream(question, expert=expert, session=session, escalate=escalate)
    if as_json:
        reply = next(event.reply for event in events if isinstance(event, Done))
        typer.echo(json.dumps(reply.as_json(), ensure_ascii=False, indent=2))
        return
    reply = show_turn(events)
    if sources and reply.sources:
        typer.echo("\nSources:")
        for source in reply.sources:
            typer.echo(f"- [{source['id']}] " + source["text"].replace("\n", "\n  "))
    if trace:
        stderr.print(trace_tree(reply.trace, reply.expert))
    if reply.pending is not None:
        how = (f"slmguild ask -g {guild} --session {session} --approve | --refuse | --edit JSON"
               if session is not None else "ask again with --session NAME to be able to approve it")
        stderr.print(f"[yellow]waiting for approval:[/] {escape(reply.pending.describe())}\n  {escape(how)}")


def _edited(text: str) -> dict[str, Any]:
    """The arguments of `--edit`: a JSON object."""
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SlmguildError(f"--edit takes the call's arguments as a JSON object: {exc}") from None
    if not isinstance(arguments, dict):
        raise SlmguildError("--edit takes the call's arguments as a JSON object, like '{\"priority\": \"high\"}'")
    return arguments


def chat(
    guild: GuildOption = Path("guild.yaml"),
    expert: ExpertOption = None,
    session: SessionOption = None,
    trace: Annotated[bool, typer.Option("--trace", help="Show each turn's trace.")] = False,
) -> None:
    """Talk with the guild; the conversation is saved as a session you can resume
    (`--session NAME`). Type /help for the commands."""
    loaded = load_guild(guild)
    session = session or time.strftime("chat-%Y%m%d-%H%M%S")
    earlier = len(loaded.session(session)["traces"])
    resumed = f", resuming {earlier} turns" if earlier else ""
    stderr.print(f"[bold]{loaded.name}[/] — session [bold]{session}[/]{resumed}. /help for commands.")
    escalate_next = False
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            stderr.print()
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/help":
            stderr.print(CHAT_HELP)
            continue
        if line == "/experts":
            for name, member in loaded.experts.items():
                stderr.print(f"[bold]{name}[/]: {escape(member.description)}")
            continue
        if line == "/trace":
            trace = not trace
            stderr.print(f"trace {'on' if trace else 'off'}")
            continue
        if line == "/new":
            session = time.strftime("chat-%Y%m%d-%H%M%S")
            stderr.print(f"new session [bold]{session}[/]")
            continue
        if line.startswith("/expert"):
            expert = line.removeprefix("/expert").strip() or None
            stderr.print(f"talking to {expert or 'the guild (routed)'}")
            continue
        if line.startswith("/escalate"):
            line = line.removeprefix("/escalate").strip()
            if not line:
                escalate_next = True
                stderr.print("the next question goes to the escalation model")
                continue
            escalate_next = True
        try:
            reply = show_turn(loaded.stream(line, expert=expert, session=session, escalate=escalate_next))
            while reply.pending is not None:  # the user decides before anything changes
                reply = show_turn(loaded.resume_stream(session, _ask_approval(reply.pending)))
        except SlmguildError as exc:
            # The session so far is saved; the user can fix the problem and go on.
            stderr.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            continue
        finally:
            escalate_next = False
        if trace:
            stderr.print(trace_tree(reply.trace, reply.expert))
    share = loaded.local_share()
    if share is not None:
        stderr.print(f"[dim]session {session} saved; {share:.0%} of this chat's turns answered locally[/]")


def _ask_approval(pending: PendingCall) -> bool | dict[str, Any]:
    """The chat user's answer to a waiting call: approve, edit each argument, or refuse."""
    while True:
        answer = input("approve? [y]es / [e]dit / [n]o: ").strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no", ""):
            return False
        if answer in ("e", "edit"):
            edited = {}
            for name, value in pending.arguments.items():
                given = input(f"  {name} [{value}]: ").strip()
                edited[name] = given or value
            return edited


def show_turn(events: Iterator[Event]) -> Reply:
    """Print a turn's tokens as they come and its events on stderr; return its reply."""
    for event in events:
        if isinstance(event, Routed):
            stderr.print(f"[dim]\\[{event.expert}][/]")
        elif isinstance(event, Planned):
            parts = "; ".join(f"{expert}: {question}" for expert, question in event.parts)
            stderr.print(f"[dim]split: {escape(parts)}[/]")
        elif isinstance(event, Escalated):
            stderr.print(f"[dim]escalated to {escape(event.model)}: {escape(event.reason)}[/]")
        elif isinstance(event, Handoff):
            stderr.print(f"[dim]{event.expert} hands off to {event.to}: {escape(event.reason)}[/]")
        elif isinstance(event, Retrieved):
            found = ", ".join(f"{hit.chunk.label} ({hit.score:.3f})" for hit in event.hits)
            stderr.print(f"[dim]found: {escape(found) or 'nothing'}[/]")
        elif isinstance(event, ToolCall):
            arguments = ", ".join(f"{key}={value!r}" for key, value in event.arguments.items())
            why = " (nearest example)" if event.chosen_by == "nearest" else ""
            stderr.print(f"[dim]→ {event.tool}({escape(arguments)}){why}[/]")
        elif isinstance(event, ToolResult):
            observation = event.observation
            stderr.print(f"[dim]← {observation.status}: {escape(_clip(observation.content))}[/]")
        elif isinstance(event, Token):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Done):
            sys.stdout.write("\n")
            return event.reply
    raise AssertionError("a turn always ends with Done")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step_line(step: StepTrace) -> str:
    """A timed step of a turn: its time, and what the engine evaluated and generated in it."""
    line = f"{step.step} {step.seconds} s"
    if step.skipped:
        line += f": skipped ({step.skipped})"
    if engine := step.engine:
        reused = f" (+{engine['cache_n']:.0f} reused)" if engine.get("cache_n") else ""
        line += (f": prompt {engine.get('prompt_n', 0):.0f} tokens{reused} in {engine.get('prompt_ms', 0):.0f} ms, "
                 f"{engine.get('predicted_n', 0):.0f} generated in {engine.get('predicted_ms', 0):.0f} ms")
    return line


def trace_tree(trace: TurnTrace, expert: str) -> Tree:
    """A turn's trace as a tree: route, retrieved chunks, tool calls, tokens and times."""
    tree = Tree(f"[bold]turn[/] → {escape(expert)}")
    route = trace.route
    if trace.parts:
        tree.add(f"split: {escape(route.reason if route else '')}")
        for part in trace.parts:
            tree.children.append(trace_tree(part, (part.route.expert if part.route else None) or "?"))
        return tree
    for left in trace.rerouted_from:
        tree.add(f"left: {left.expert} ({escape(left.reason)})")
    if route is not None:
        ranked = sorted(route.scores.items(), key=lambda item: -item[1])
        scores = ", ".join(f"{name} {score:.3f}" for name, score in ranked)
        node = tree.add(f"route: {route.expert} ({escape(route.reason)})")
        if scores:
            node.add(f"scores: {scores}")
    tree.add(f"model: {trace.model}")
    if trace.retrieved:
        node = tree.add(f"retrieved: {len(trace.retrieved)} chunks")
        for hit in trace.retrieved:
            heading = f" — {hit.heading}" if hit.heading else ""
            label = escape(f"[{hit.chunk}] {hit.source}{heading}")
            node.add(f"{hit.rank}. {label} score {hit.score}")
    for call in trace.tools:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        approval = f", {escape(approval_note(call))}" if call.approval else ""
        node = tree.add(f"tool: {call.tool} {escape(arguments)} → {call.status} ({call.duration_s} s{approval})")
        node.add(escape(_clip(call.content)))
    if trace.pending is not None:
        tree.add(f"[yellow]waiting for approval: {escape(trace.pending.describe())}[/]")
    if answer := trace.answer:
        node = tree.add(f"answer: {answer.strategy} → {answer.outcome}")
        for passage in answer.passages:
            node.add(escape(f"[{passage.chunk}] {_clip(passage.text, 120)} ({passage.similarity})"))
        if answer.draft:
            node.add(escape(f"draft: {_clip(answer.draft, 160)}"))
        for problem in answer.unsupported_figures:
            node.add(f"[yellow]unsupported figure: {escape(problem)}[/]")
        for problem in answer.unsupported_sentences:
            node.add(f"[yellow]unsupported sentence: {escape(_clip(problem, 120))}[/]")
        if answer.adds_nothing:
            node.add("[yellow]the draft adds nothing to the question[/]")
    if trace.steps:
        node = tree.add("steps:")
        for step in trace.steps:
            node.add(escape(_step_line(step)))
    usage = trace.usage
    tree.add(
        f"tokens: {usage.get('input_tokens', '?')} in, {usage.get('output_tokens', '?')} out; "
        f"first token {trace.first_token_s} s, total {trace.latency_s} s"
    )
    if trace.notice:
        tree.add(f"[yellow]{escape(trace.notice)}[/]")
    return tree


def approval_note(call: ToolCallTrace) -> str:
    """What the user answered to a call that waited, who and when: `approved by alice at ...`."""
    who = f" by {call.approval_by}" if call.approval_by else ""
    when = f" at {call.approval_at}" if call.approval_at else ""
    return f"{call.approval}{who}{when}"
