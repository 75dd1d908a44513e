"""`slmguild test`: run scenario files and report each failing turn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from slmguild.scenarios import ScenarioRunner, find_scenarios, load_scenario
from slmguild.scenarios.report import summary, turn_report, write_junit

console = Console(highlight=False)


def test(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Scenario files or folders (searched for *.scenario.yaml). Default: the current folder."),
    ] = None,
    real: Annotated[
        bool, typer.Option("--real", help="Also run the scenarios marked `real` with the guild's own models.")
    ] = False,
    only_real: Annotated[bool, typer.Option("--only-real", help="Run only the `real` mode.")] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write the results as JUnit XML to this file.")] = None,
) -> None:
    """Run scenario files: scripted conversations whose turns assert routing, tool calls,
    retrieval and answers. Scripted mode needs no model; `--real` also runs the
    scenarios whose `modes` include `real` on the guild's models. Exits 1 if any fails."""
    files = find_scenarios(paths or [Path(".")])
    if not files:
        console.print("no scenario files (*.scenario.yaml) found")
        raise typer.Exit(1)
    scenarios = [load_scenario(file) for file in files]  # every file validated before any runs
    wanted = {"real"} if only_real else {"scripted", "real"} if real else {"scripted"}
    runner = ScenarioRunner(on_ingest=lambda guild: console.print(f"[dim]updating the knowledge of {guild}[/]"))
    results, not_run = [], 0
    for scenario in scenarios:
        for mode in scenario.modes:
            if mode not in wanted:
                not_run += 1
                continue
            result = runner.run(scenario, mode)
            results.append(result)
            mark = "[green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
            console.print(f"{mark} {escape(result.title)} [dim]{result.scenario.file} "
                          f"({len(result.turns)} turns, {result.seconds:.1f} s)[/]")
            if result.error is not None:
                console.print(f"  [red]{escape(result.error)}[/]")
            for turn in result.turns:
                if not turn.passed:
                    console.print(escape(turn_report(turn)), soft_wrap=True)
    if junit is not None:
        write_junit(results, junit)
    failed = any(not result.passed for result in results)
    console.print(("[bold red]" if failed else "[bold green]") + summary(results) + "[/]")
    if not_run and not only_real:
        console.print(f"[dim]{not_run} real-mode runs not asked for (add --real)[/]")
    raise typer.Exit(1 if failed else 0)
