"""Scenario files (`*.scenario.yaml`): scripted conversations with expectations per turn.

    name: A forgotten VPN password goes to IT, which cites the VPN document
    guild: ../guild.yaml
    modes: [scripted, real]          # scripted (default): exact, no model; real: the guild's models
    turns:                           # one session; or `sessions:` with several
      - user: How do I reset my VPN password?
        replies:                     # scripted mode: each role's replies, in order
          it: ["Reset it at https://id.acme.example [vpn-password-reset]"]
        expect:
          routed_to: it
          retrieved: [vpn-password-reset]
          answer_contains: ["[vpn-password-reset]"]

Validation errors name the file, the line and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from slmguild.config import ModelSpec
from slmguild.errors import SlmguildError
from slmguild.yaml_files import line_of, read_yaml, validate_yaml

Mode = Literal["scripted", "real"]
SUFFIX = ".scenario.yaml"


class ScenarioError(SlmguildError):
    """A scenario file that cannot be read or does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listed(value: Any) -> Any:
    """A single item where a list is expected is a list of one."""
    return [value] if isinstance(value, str | dict) else value


class ToolCallReply(_Strict):
    """A scripted tool call: the expert asks for `tool` with `arguments`."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


ScriptedReply = str | ToolCallReply


class ExpectedCall(_Strict):
    """A tool call the turn must make: its name, and a subset of its arguments."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="each given argument must be equal")


class Judge(_Strict):
    """A rubric that a judge model scores the answer against (1 to 5)."""

    rubric: str
    min_score: int = Field(4, ge=1, le=5)


class Expectations(_Strict):
    """What must be true of a turn; each one left out is not checked."""

    routed_to: Annotated[list[str] | None, BeforeValidator(_listed)] = Field(
        None, description="the expert(s) that answered: one name, or several for a multi-expert turn"
    )
    escalated: bool | None = Field(None, description="whether the escalation model answered")
    tools_called: Annotated[list[ExpectedCall] | None, BeforeValidator(_listed)] = Field(
        None, description="tool calls that ran, in order among the turn's calls; [] means none"
    )
    retrieved: Annotated[list[str] | None, BeforeValidator(_listed)] = Field(
        None, description="document ids (file names without suffix) or path endings that the search found"
    )
    answer_contains: Annotated[list[str], BeforeValidator(_listed)] = Field(
        default_factory=list, description="texts the answer contains (case-insensitive)"
    )
    answer_not_contains: Annotated[list[str], BeforeValidator(_listed)] = Field(
        default_factory=list, description="texts the answer does not contain (case-insensitive)"
    )
    answer_matches: str | None = Field(None, description="a regular expression the answer matches")
    approval_asked: str | None = Field(
        None, description="the tool whose call stopped the turn for the user's approval"
    )
    judge: Judge | None = None

    @field_validator("tools_called", mode="before")
    @classmethod
    def _names_are_calls(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("answer_matches")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class Turn(_Strict):
    """One user message, the scripted models' replies to it, and what must come of it."""

    user: str = Field(min_length=1)
    expert: str | None = Field(None, description="force this expert instead of routing")
    replies: dict[str, Annotated[list[ScriptedReply], BeforeValidator(_listed)]] = Field(
        default_factory=dict,
        description="scripted mode: replies per role (an expert, fallback, escalation, router, "
        "planner, judge), in the order the role is asked",
    )
    approve: bool | dict[str, Any] | None = Field(
        None,
        description="the user's answer when the turn stops at a call for approval: true runs it, "
        "false refuses it, arguments run it with those instead; left out, the turn stays stopped",
    )
    expect: Expectations = Field(default_factory=Expectations)


class Session(_Strict):
    """A conversation: its turns share history, so follow-ups stay with their expert."""

    name: str | None = None
    turns: list[Turn] = Field(min_length=1)


class Scenario(_Strict):
    """A scenario file: a guild, the modes it runs in, and one or more sessions."""

    name: str
    description: str | None = None
    guild: str = Field(description="the guild file, relative to the scenario file")
    guild_overrides: dict[str, Any] = Field(
        default_factory=dict, description="merged into the guild file for this scenario (e.g. an `escalation:` model)"
    )
    modes: Annotated[list[Mode], BeforeValidator(_listed)] = Field(default_factory=lambda: list[Mode](["scripted"]))
    judge_model: ModelSpec | None = Field(
        None, description="real mode: the model that scores `judge` rubrics (default: the guild's escalation model)"
    )
    sessions: list[Session] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list, description="shorthand for one session")
    _file: Path = PrivateAttr(default_factory=Path)
    _document: Any = PrivateAttr(default=None)  # the YAML as read: it knows each key's line

    @model_validator(mode="after")
    def _one_way_to_give_turns(self) -> Scenario:
        if self.turns and self.sessions:
            raise ValueError("give `turns` (one session) or `sessions`, not both")
        if self.turns:
            self.sessions = [Session(turns=self.turns)]
            self.turns = []
        if not self.sessions:
            raise ValueError("a scenario needs `turns` or `sessions`")
        return self

    @property
    def file(self) -> Path:
        """The scenario file this was read from."""
        return self._file

    @property
    def guild_path(self) -> Path:
        return (self._file.parent / self.guild).resolve()

    def where(self, session: int, turn: int, *loc: str | int) -> str:
        """`file:line` of a turn's field, for errors found after loading (an unknown expert)."""
        uses_shorthand = isinstance(self._document, dict) and "turns" in self._document
        prefix: list[str | int] = ["turns", turn] if uses_shorthand else ["sessions", session, "turns", turn]
        return f"{self._file}:{line_of(self._document, [*prefix, *loc])}"


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; `ScenarioError` names file:line and field."""
    path = Path(path)
    data = read_yaml(path, ScenarioError, "scenario file")
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}:1: a scenario file is a mapping with `name`, `guild` and `turns`")
    data.setdefault("name", path.name.removesuffix(SUFFIX))
    scenario = validate_yaml(Scenario, data, path, ScenarioError)
    scenario._file, scenario._document = path, data
    return scenario


def find_scenarios(paths: list[Path]) -> list[Path]:
    """The scenario files among `paths`: files as given, folders searched recursively."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob(f"*{SUFFIX}"))
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or folder")
    return found
