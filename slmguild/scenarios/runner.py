"""Runs scenarios: each session's turns through a guild, each turn's expectations checked.

In `scripted` mode every model role (each expert, fallback, escalation, router, planner,
judge) is a `ScriptedModel` loaded with the turn's `replies` before the turn and checked
for leftovers after it; routing, search and tools are the real ones. In `real` mode the
guild's own models answer. Either way the guild's knowledge stores are brought up to
date first (incremental: unchanged documents are skipped), and sessions live in memory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.memory import InMemorySaver

from slmguild.config import Generation, GuildConfig, ModelSpec, load_config
from slmguild.errors import SlmguildError
from slmguild.evaluation import Judge
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator import Done, Guild, Planned, Reply, Routed
from slmguild.orchestrator.graph import CHECKPOINT_SERDE
from slmguild.scenarios.checks import check_turn
from slmguild.scenarios.spec import Mode, Scenario, ScenarioError, ToolCallReply, Turn
from slmguild.testing import ScriptedModel
from slmguild.testing.steps import expert_replies

HELPER_ROLES = ("router", "planner", "judge")  # model roles that are not experts


@dataclass
class TurnResult:
    """One turn: its reply (None if it could not run) and the expectations it failed."""

    where: str  # file:line of the turn
    turn: Turn
    reply: Reply | None = None
    routed: list[Routed | Planned] = field(default_factory=list)  # where it went, even if it then failed
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class ScenarioResult:
    """A scenario run in one mode: every turn's result, or the error that stopped it."""

    scenario: Scenario
    mode: Mode
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and all(turn.passed for turn in self.turns)

    @property
    def title(self) -> str:
        return f"{self.scenario.name} [{self.mode}]"


class ScriptedRoles:
    """One `ScriptedModel` per model role of a guild, loaded turn by turn."""

    def __init__(self) -> None:
        self.models: dict[str, ScriptedModel] = {}

    def model(self, role: str, _spec: ModelSpec | None = None) -> BaseChatModel:
        """The role's model (a `Guild` model factory)."""
        return self.models.setdefault(role, ScriptedModel(name=role))

    def load(self, guild: Guild, turn: Turn, where: Callable[..., str]) -> None:
        """Give each role the turn's replies, in the shape its requests expect."""
        roles = [*guild.experts, "fallback", *(["escalation"] if guild.roster.escalation else []), *HELPER_ROLES]
        for role, items in turn.replies.items():
            if role not in roles:
                raise ScenarioError(
                    f"{where('replies', role)}: replies.{role}: the guild has no model role '{role}' "
                    f"(it has: {', '.join(roles)})"
                )
            script = [(item.tool, item.arguments) if isinstance(item, ToolCallReply) else item for item in items]
            if role in HELPER_ROLES:
                if any(isinstance(item, tuple) for item in script):
                    raise ScenarioError(f"{where('replies', role)}: replies.{role}: the {role} cannot call tools")
                replies: list[Any] = script
            else:
                try:
                    replies = expert_replies(guild.expert(role), script)
                except ValueError as exc:
                    raise ScenarioError(f"{where('replies', role)}: replies.{role}: {exc}") from None
            self.models.setdefault(role, ScriptedModel(name=role)).replies = list(replies)

    def leftovers(self) -> list[str]:
        """A failure for each role whose replies the turn did not use (then forgotten)."""
        failures = []
        for role, model in self.models.items():
            if model.replies:
                failures.append(f"replies.{role}: not all used: the turn asked {role} fewer times than scripted")
                model.replies.clear()
        return failures


class ScenarioRunner:
    """Runs scenarios; the knowledge base of each guild file is shared across them."""

    def __init__(self, *, on_ingest: Callable[[Path], None] | None = None) -> None:
        self.on_ingest = on_ingest
        self._knowledge: dict[tuple[Path, str], KnowledgeBase] = {}

    def run(self, scenario: Scenario, mode: Mode) -> ScenarioResult:
        """Run every session of `scenario` in `mode`; never raises for a failing turn."""
        started = time.perf_counter()
        result = ScenarioResult(scenario, mode)
        try:
            self._run_sessions(scenario, mode, result)
        except SlmguildError as exc:
            result.error = str(exc)
        result.seconds = time.perf_counter() - started
        return result

    def _run_sessions(self, scenario: Scenario, mode: Mode, result: ScenarioResult) -> None:
        config = load_config(scenario.guild_path, scenario.guild_overrides)
        if mode == "real":
            config = _reproducible(config)
        knowledge = self.knowledge(scenario.guild_path, config, scenario.guild_overrides)
        roles = ScriptedRoles() if mode == "scripted" else None
        guild = Guild(config, knowledge=knowledge, checkpointer=InMemorySaver(serde=CHECKPOINT_SERDE),
                      models=roles.model if roles else None)

        @cache  # built on the first `judge` expectation, if any (scripted mode: the judge's script)
        def judge() -> Judge:
            return Judge(guild.models("judge", _judge_spec(scenario, config)))

        for s, session in enumerate(scenario.sessions):
            session_id = session.name or f"{scenario.name}-{s + 1}"
            for t, turn in enumerate(session.turns):
                def where(*loc: str | int, s: int = s, t: int = t) -> str:
                    return scenario.where(s, t, *loc)

                if turn.expert is not None and turn.expert not in [*guild.experts, "fallback", "escalation"]:
                    raise ScenarioError(f"{where('expert')}: expert: the guild has no expert '{turn.expert}'")
                if roles is not None:
                    roles.load(guild, turn, where)
                result.turns.append(_run_turn(guild, turn, session_id, roles, judge, where()))

    def knowledge(self, path: Path, config: GuildConfig, overrides: dict[str, Any] | None = None) -> KnowledgeBase:
        """The knowledge base of the guild file `path` (as `config`, with `overrides`),
        brought up to date on first use (only changed documents are ingested)."""
        key = (path.resolve(), json.dumps(overrides or {}, sort_keys=True, default=str))
        if key not in self._knowledge:
            if self.on_ingest is not None and _has_sources(config):
                self.on_ingest(path)
            self._knowledge[key] = prepared_knowledge(config)
        return self._knowledge[key]


def _judge_spec(scenario: Scenario, config: GuildConfig) -> ModelSpec:
    """The scenario's judge model, else the guild's escalation model, else its default one."""
    if scenario.judge_model is not None:
        return scenario.judge_model.merged_over(config.defaults)
    return config.model_for("escalation") if config.escalation is not None else config.defaults


def _reproducible(config: GuildConfig) -> GuildConfig:
    """`config` with a fixed sampling seed where it sets none, so that a real-mode run
    gives the same answers each time (on the same build of the engine)."""
    generation = config.defaults.generation or Generation()
    if generation.seed is not None:
        return config
    defaults = config.defaults.model_copy(update={"generation": generation.model_copy(update={"seed": 0})})
    return config.model_copy(update={"defaults": defaults})


def _has_sources(config: GuildConfig) -> bool:
    return any(expert.knowledge.sources for expert in config.experts.values())


def prepared_knowledge(config: GuildConfig) -> KnowledgeBase:
    """The guild's knowledge base, its stores brought up to date (only changes are ingested)."""
    knowledge = KnowledgeBase(config)
    if _has_sources(config):
        knowledge.ingest()
    return knowledge


def _run_turn(
    guild: Guild, turn: Turn, session: str, roles: ScriptedRoles | None, judge: Callable[[], Judge], where: str
) -> TurnResult:
    """Run one turn and check it; a turn that fails to run is a failure, not an exception."""
    outcome = TurnResult(where, turn)
    started = time.perf_counter()
    try:
        for event in guild.stream(turn.user, expert=turn.expert, session=session):
            if isinstance(event, Routed | Planned):
                outcome.routed.append(event)
            elif isinstance(event, Done):
                outcome.reply = event.reply
        assert outcome.reply is not None, "a turn always ends with Done"
        if outcome.reply.pending is not None and turn.approve is not None:
            outcome.reply = guild.resume(session, turn.approve)  # the user answers; the turn goes on
        outcome.failures += check_turn(turn.expect, outcome.reply)
        if turn.expect.judge is not None:
            outcome.failures += _judged(judge(), turn, outcome.reply)
    except (SlmguildError, AssertionError) as exc:  # AssertionError: a scripted model ran out
        outcome.failures.append(f"the turn failed: {exc}")
    # Unused replies explain a wrong route; and they must not leak into the next turn.
    outcome.failures += roles.leftovers() if roles is not None else []
    outcome.seconds = time.perf_counter() - started
    return outcome


def _judged(judge: Judge, turn: Turn, reply: Reply) -> list[str]:
    rubric = turn.expect.judge
    assert rubric is not None
    rating = judge.rate(turn.user, reply.text, rubric=rubric.rubric)
    if rating.score >= rubric.min_score:
        return []
    return [f"judge: scored {rating.score}/5, below the minimum {rubric.min_score}: {rating.reason}"]
