"""The Guild: the library's front door (`load_guild`, `run`, `arun`, `stream`, `astream`).

Until the routing graph lands, a turn goes to the expert the caller names, or to the
fallback expert; the `Routed` event says which and why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from slmguild.agents import Expert, ExpertEvent, Retrieved, ToolCall, ToolResult
from slmguild.config import ExpertConfig, FallbackConfig, GuildConfig, load_config
from slmguild.errors import SlmguildError, UnknownExpert
from slmguild.knowledge import KnowledgeBase
from slmguild.knowledge.citations import source_id
from slmguild.orchestrator.events import Done, Event, Reply, Routed, Token
from slmguild.serving import chat_model
from slmguild.tools import ToolExecutor, ToolRegistry

FALLBACK = "fallback"


class Guild:
    """A guild of experts built from a `GuildConfig`.

    Building it is cheap: models load on the first request that needs them.
    """

    def __init__(self, config: GuildConfig, *, knowledge: KnowledgeBase | None = None) -> None:
        self.config = config
        self.knowledge = knowledge or KnowledgeBase(config)
        self.tools = ToolRegistry.from_toolboxes(config.toolboxes)
        self.experts: dict[str, Expert] = {
            name: self._build_expert(name, expert) for name, expert in config.experts.items()
        }
        self.fallback = self._build_expert(FALLBACK, config.fallback)

    def _build_expert(self, name: str, expert: ExpertConfig | FallbackConfig) -> Expert:
        spec = self.config.model_for(name)
        tools = [self.tools.resolve(ref) for ref in getattr(expert, "tools", [])]
        tool_settings: dict[str, Any] = {}
        if isinstance(expert, ExpertConfig) and tools:
            # Small models on the embedded engine rarely emit native calls; a schema they can meet.
            auto = "constrained" if spec.backend == "embedded" else "native"
            tool_settings = {
                "executor": ToolExecutor(
                    {item.name: item for item in tools},
                    allowed=[item.name for item in tools],
                    timeout_s=expert.tool_timeout_s,
                    known=self.tools.names,
                ),
                "tool_calling": auto if expert.tool_calling == "auto" else expert.tool_calling,
                "max_steps": expert.max_steps,
                "max_retries": expert.max_retries,
                # One routing exemplar per sub-topic shows the model questions it answers itself.
                "answer_examples": [group[0] for group in expert.exemplar_groups().values() if group],
            }
        return Expert(
            name=name,
            description=expert.description,
            system_prompt=expert.system_prompt,
            model=chat_model(spec, self.config.engine),
            spec=spec,
            tools=tools,
            knowledge=self.knowledge.retriever(name),
            **tool_settings,
        )

    @property
    def name(self) -> str:
        return self.config.name

    def expert(self, name: str) -> Expert:
        """The expert called `name` (`fallback` included); `UnknownExpert` lists the others."""
        if name == FALLBACK:
            return self.fallback
        try:
            return self.experts[name]
        except KeyError:
            known = ", ".join([*self.experts, FALLBACK])
            raise UnknownExpert(f"the guild '{self.name}' has no expert '{name}' (it has: {known})") from None

    def route(self, message: str, expert: str | None = None) -> Routed:
        """Who answers `message`: the expert asked for, else the fallback."""
        if expert is not None:
            self.expert(expert)
            return Routed(expert=expert, reason="forced by the caller")
        return Routed(expert=FALLBACK, reason="no router configured")

    def _begin(self, message: str, expert: str | None) -> tuple[Routed, Expert]:
        if not message.strip():
            raise SlmguildError("the message is empty: ask a question")
        routed = self.route(message, expert)
        return routed, self.expert(routed.expert)

    async def astream(
        self,
        message: str,
        *,
        expert: str | None = None,
        history: Sequence[BaseMessage] = (),
    ) -> AsyncIterator[Event]:
        """One turn as events: `Routed`, then `Token`s, then `Done` with the `Reply`."""
        routed, chosen = self._begin(message, expert)
        yield routed
        turn = _TurnRecorder(routed, chosen)
        async for event in chosen.astream(message, history):
            if reported := turn.add(event):
                yield reported
        yield turn.done()

    def stream(
        self,
        message: str,
        *,
        expert: str | None = None,
        history: Sequence[BaseMessage] = (),
    ) -> Iterator[Event]:
        """`astream` for synchronous callers, without an event loop in the way.

        A twin of `astream` on purpose: driving `astream` from here would cost an
        event-loop round trip per token (benchmarks/serving.py measured it).
        """
        routed, chosen = self._begin(message, expert)
        yield routed
        turn = _TurnRecorder(routed, chosen)
        for event in chosen.stream(message, history):
            if reported := turn.add(event):
                yield reported
        yield turn.done()

    async def arun(
        self,
        message: str,
        *,
        expert: str | None = None,
        history: Sequence[BaseMessage] = (),
    ) -> Reply:
        """One turn, returning the finished `Reply`."""
        async for event in self.astream(message, expert=expert, history=history):
            if isinstance(event, Done):
                return event.reply
        raise AssertionError("a turn always ends with Done")

    def run(
        self,
        message: str,
        *,
        expert: str | None = None,
        history: Sequence[BaseMessage] = (),
    ) -> Reply:
        """`arun` for synchronous callers (not from inside a running event loop)."""
        return asyncio.run(self.arun(message, expert=expert, history=history))


def load_guild(path: str | Path) -> Guild:
    """Read, validate and build the guild described by the YAML file at `path`."""
    return Guild(load_config(path))


def _model_label(expert: Expert) -> str:
    spec = expert.spec
    label = f"{spec.backend}:{spec.name}"
    return f"{label}+{spec.adapter}" if spec.adapter else label


class _TurnRecorder:
    """Collects a turn's chunks into its `Reply`; shared by the sync and async paths."""

    def __init__(self, routed: Routed, expert: Expert) -> None:
        self.routed = routed
        self.expert = expert
        self.pieces: list[str] = []
        self.usage: dict[str, int] = {}
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.tool_calls: list[dict[str, Any]] = []
        self.retrieved: list[dict[str, Any]] = []

    def add(self, chunk: ExpertEvent) -> Event | None:
        """Record an expert's event; the event to stream, if any."""
        if isinstance(chunk, Retrieved):
            self.retrieved = [
                {
                    "id": source_id(hit),
                    "chunk": hit.chunk.label,
                    "source": hit.chunk.source,
                    "heading": hit.chunk.heading,
                    "score": round(hit.score, 4),
                    "rank": hit.rank,
                }
                for hit in chunk.hits
            ]
            return chunk
        if isinstance(chunk, ToolCall):
            return chunk
        if isinstance(chunk, ToolResult):
            self.tool_calls.append({**asdict(chunk.observation), "expert": chunk.expert})
            return chunk
        if chunk.usage_metadata:
            self.usage = dict(chunk.usage_metadata)
        text = chunk.text
        if not text:
            return None
        # Joining strings, not adding message chunks: this runs once per token.
        self.first_token_at = self.first_token_at or time.perf_counter()
        self.pieces.append(text)
        return Token(text)

    def done(self) -> Done:
        finished = time.perf_counter()
        model = _model_label(self.expert)
        return Done(
            Reply(
                text="".join(self.pieces).strip(),
                expert=self.expert.name,
                model=model,
                usage=self.usage,
                trace={
                    "route": {
                        "expert": self.routed.expert,
                        "reason": self.routed.reason,
                        "scores": self.routed.scores,
                    },
                    "model": model,
                    "retrieved": self.retrieved,
                    "tools": self.tool_calls,
                    "usage": self.usage,
                    "latency_s": round(finished - self.started, 4),
                    "first_token_s": round((self.first_token_at or finished) - self.started, 4),
                },
            )
        )
