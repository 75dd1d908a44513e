"""The roster: a guild's experts, built from its config, looked up by name.

Each expert gets its chat model (the role's `ModelSpec`, made by the guild's model
factory), its tools (with the handoff tool when it may pass a turn on), its knowledge
and the answerer its answer strategy asks for. Besides the experts, the roster holds
the `fallback` generalist and, when configured, the `escalation` model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from slmguild.agents import Expert
from slmguild.agents.grounded import GroundedAnswerer
from slmguild.config import ExpertConfig, FallbackConfig, GuildConfig, ModelSpec
from slmguild.errors import ConfigError, SlmguildError, UnknownExpert
from slmguild.knowledge import KnowledgeBase, Retriever
from slmguild.tools import Demonstrations, ToolExecutor, ToolRegistry
from slmguild.tools.handoff import HANDOFF, handoff_tool
from slmguild.tools.side_effects import changes_something

FALLBACK, ESCALATION = "fallback", "escalation"

ModelFactory = Callable[[str, ModelSpec], BaseChatModel]
"""Builds the chat model of a role: an expert's name, `fallback`, `escalation`, `router`
(the cascade's tie-breaker or the LLM router) or `planner`; given the role's model spec."""


class Roster:
    """The experts of a guild (`experts`), its `fallback` and its `escalation` model (None
    when the guild file configures none). Models load on their first request."""

    def __init__(self, config: GuildConfig, models: ModelFactory, knowledge: KnowledgeBase, tools: ToolRegistry) -> None:
        self.config = config
        self._models = models
        self._knowledge = knowledge
        self._tools = tools
        self.experts: dict[str, Expert] = {name: self._build(name, expert) for name, expert in config.experts.items()}
        self.fallback = self._build(FALLBACK, config.fallback)
        self.escalation: Expert | None = None
        if config.escalation is not None:
            spec = config.model_for(ESCALATION)
            self.escalation = Expert(
                name=ESCALATION,
                description="The larger model for what no small model should answer.",
                system_prompt=config.fallback.system_prompt,
                model=models(ESCALATION, spec),
                spec=spec,
            )

    def expert(self, name: str) -> Expert:
        """The expert called `name` (`fallback` and `escalation` included)."""
        if name == FALLBACK:
            return self.fallback
        if name == ESCALATION:
            if self.escalation is None:
                raise SlmguildError("this guild has no escalation model: add `escalation:` to the guild file")
            return self.escalation
        try:
            return self.experts[name]
        except KeyError:
            known = ", ".join([*self.experts, FALLBACK])
            raise UnknownExpert(f"the guild '{self.config.name}' has no expert '{name}' (it has: {known})") from None

    def _build(self, name: str, expert: ExpertConfig | FallbackConfig) -> Expert:
        spec = self.config.model_for(name)
        others = [other for other in self.config.experts if other != name]
        tools = [
            handoff_tool(others) if ref == HANDOFF else self._tools.resolve(ref)
            for ref in getattr(expert, "tools", [])
        ]
        tool_settings: dict[str, Any] = {}
        if isinstance(expert, ExpertConfig) and tools:
            # Small models on the embedded engine rarely emit native calls; a schema they can meet.
            auto = "constrained" if spec.backend == "embedded" else "native"
            tool_settings = {
                "executor": ToolExecutor(
                    {item.name: item for item in tools},
                    allowed=[item.name for item in tools],
                    timeout_s=expert.tool_timeout_s,
                    known=[*self._tools.names, HANDOFF],
                ),
                "tool_calling": auto if expert.tool_calling == "auto" else expert.tool_calling,
                "approval": needs_approval(name, expert, tools),
                "tool_choice": expert.tool_choice,
                "max_steps": expert.max_steps,
                "max_retries": expert.max_retries,
                # The routing exemplars are the requests this expert answers without a tool.
                "demonstrations": Demonstrations(
                    tools,
                    [text for group in expert.exemplar_groups().values() for text in group],
                    embedder=lambda: self._knowledge.embedder,
                    shown=expert.demonstrations,
                ),
            }
        knowledge = self._knowledge.retriever(name)
        grounded = None
        answer = self.config.answer_for(name)
        if answer.strategy != "generative":
            grounded = GroundedAnswerer(
                name, answer, (lambda: self._knowledge.embedder) if knowledge is not None else None
            )
            if knowledge is not None:  # the passages are chosen from more chunks than a prompt holds
                knowledge = Retriever(self._knowledge, name, max(knowledge.top_k, answer.chunks))
        return Expert(
            name=name,
            description=expert.description,
            system_prompt=expert.system_prompt,
            model=self._models(name, spec),
            spec=spec,
            tools=tools,
            knowledge=knowledge,
            grounded=grounded,
            **tool_settings,
        )


def needs_approval(name: str, expert: ExpertConfig, tools: Sequence[BaseTool]) -> frozenset[str]:
    """The expert's tools whose calls wait for the user's approval: those that change
    something, but for the ones `auto_approve` lets run."""
    changing = {item.name for item in tools if changes_something(item)}
    if expert.auto_approve is True:
        return frozenset()
    if expert.auto_approve is False:
        return frozenset(changing)
    if unknown := set(expert.auto_approve) - {item.name for item in tools}:
        raise ConfigError(f"experts.{name}.auto_approve names tools the expert does not have: "
                          f"{', '.join(sorted(unknown))}")
    return frozenset(changing - set(expert.auto_approve))
