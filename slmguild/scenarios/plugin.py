"""The pytest plugin, loaded where a project asks for it: `pytest_plugins =
["slmguild.scenarios.plugin"]` in a conftest, or `pytest -p slmguild.scenarios.plugin`.

- Scenario files (`*.scenario.yaml`) under the test paths are collected: one item per
  mode (`file.scenario.yaml::scripted`, `::real`); a failing item prints the turn's
  report; an invalid file fails collection with its file:line.
- Real model requests are blocked in every test unless it is marked
  `@pytest.mark.allow_model_requests` (items of `real` scenarios are).
- Fixtures: `scripted_model` (a `ScriptedModel`, checked for unused replies after a
  passing test), `guild_file` (from the `slmguild_guild` ini option; override it in a
  conftest), and `guild` (that guild, every model role answered by `scripted_model`,
  its knowledge ingested, sessions in memory). Async tests use `guild.arun` under
  pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from slmguild.config import load_config
from slmguild.orchestrator import Guild
from slmguild.orchestrator.graph import CHECKPOINT_SERDE
from slmguild.scenarios.report import turn_report
from slmguild.scenarios.runner import ScenarioResult, ScenarioRunner
from slmguild.scenarios.spec import SUFFIX, Mode, Scenario, ScenarioError, load_scenario
from slmguild.testing import ScriptedModel, model_requests

ALLOW = "allow_model_requests"
_RUNNER = pytest.StashKey[ScenarioRunner]()
_CALL_PASSED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("slmguild_guild", "the guild file of the `guild` fixture (relative to the rootdir)", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{ALLOW}: let the test make requests to real models")
    config.stash[_RUNNER] = ScenarioRunner()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIX):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[Any]:
    """Setup, call and teardown of each test run with real model requests off, unless allowed."""
    with model_requests(allowed=item.get_closest_marker(ALLOW) is not None):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    return report


class ScenarioFailed(Exception):
    """A scenario whose turns did not all meet their expectations."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.title)
        self.result = result


class ScenarioFile(pytest.File):
    """A `*.scenario.yaml` file: one item per mode it runs in."""

    def collect(self) -> Iterator[ScenarioItem]:
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for mode in scenario.modes:
            item = ScenarioItem.from_parent(self, name=mode, scenario=scenario, mode=mode)
            if mode == "real":
                item.add_marker(ALLOW)
                item.add_marker("integration")
            yield item


class ScenarioItem(pytest.Item):
    """A scenario in one mode."""

    def __init__(self, *, scenario: Scenario, mode: Mode, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.mode = mode

    def runtest(self) -> None:
        result = self.config.stash[_RUNNER].run(self.scenario, self.mode)
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            result = excinfo.value.result
            if result.error is not None:
                return result.error
            return "\n\n".join(turn_report(turn) for turn in result.turns if not turn.passed)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.name} [{self.mode}]"


@pytest.fixture
def scripted_model(request: pytest.FixtureRequest) -> Iterator[ScriptedModel]:
    """A `ScriptedModel` to fill with replies; after a passing test, all must be used."""
    model = ScriptedModel(name="scripted_model")
    yield model
    if request.node.stash.get(_CALL_PASSED, False):
        model.assert_all_used()


@pytest.fixture
def guild_file(pytestconfig: pytest.Config) -> Path:
    """The guild file named by the `slmguild_guild` ini option (override this fixture for another)."""
    configured = pytestconfig.getini("slmguild_guild")
    if not configured:
        pytest.fail("the `guild` fixture needs a guild file: set `slmguild_guild = path/to/guild.yaml` "
                    "in your pytest configuration, or define a `guild_file` fixture")
    return pytestconfig.rootpath / configured


@pytest.fixture
def guild(guild_file: Path, scripted_model: ScriptedModel, pytestconfig: pytest.Config) -> Guild:
    """The guild of `guild_file`, every model role answered by `scripted_model`; its
    knowledge is ingested once per test session, and its sessions live in memory."""
    config = load_config(guild_file)
    knowledge = pytestconfig.stash[_RUNNER].knowledge(guild_file, config)
    return Guild(config, knowledge=knowledge, checkpointer=InMemorySaver(serde=CHECKPOINT_SERDE),
                 models=lambda _role, _spec: scripted_model)
