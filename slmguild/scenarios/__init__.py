"""Scenario tests: scripted conversations with expectations per turn.

- `spec`: the `*.scenario.yaml` format (pydantic), loaded with file:line errors;
- `checks`: a turn's expectations against its reply and trace;
- `runner`: runs scenarios in `scripted` or `real` mode;
- `report`: the readable report and JUnit XML;
- `plugin`: the pytest plugin (scenario files are test items; `guild`, `scripted_model`).

`slmguild test` is the command line of the same runner.
"""

from slmguild.scenarios.runner import ScenarioResult, ScenarioRunner, TurnResult
from slmguild.scenarios.spec import (
    Scenario,
    ScenarioError,
    find_scenarios,
    load_scenario,
)

__all__ = [
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "ScenarioRunner",
    "TurnResult",
    "find_scenarios",
    "load_scenario",
]
