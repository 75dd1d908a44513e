"""Demonstrations for the step decision: an expert's labelled requests, nearest first.

A small model copies a demonstrated step far better than it follows a description,
and it copies the demonstration most like the request best. An expert's labelled
requests are its tools' example calls and the requests it answers itself (its routing
exemplars). With an embedder, each request is shown the `shown` most similar ones,
the most similar last; without one, all of them in a fixed, mixed order.

The nearest labelled request also says whether to call a tool at all. Sentence
embeddings tell "which tool" well but a 135M model under-calls: shown its tools'
examples it still answers most requests itself (`benchmarks/tool_calls.py`). So when
the nearest labelled request is a call of some tool, `Selection.nearest_call` names it
and the expert has the model fill in its arguments, under that tool's schema only.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool

from slmguild.tools.definition import examples_of
from slmguild.tools.steps import ANSWER
from slmguild.vectors import unit


@dataclass(frozen=True)
class Demonstration:
    """A labelled request: the step that fits it (`tool` None: answer without a tool)."""

    request: str
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)

    def step(self) -> str:
        """The step as the model is asked to write it (see `slmguild.tools.steps`)."""
        if self.tool is None:
            return json.dumps({"action": ANSWER})
        return json.dumps({"action": self.tool, "arguments": self.arguments})

    def messages(self) -> list[BaseMessage]:
        """The demonstration as an earlier turn of the conversation."""
        return [HumanMessage(self.request), AIMessage(self.step())]


@dataclass(frozen=True)
class Selection:
    """The demonstrations to show for a request, and the tool to call without asking."""

    shown: list[Demonstration]
    nearest_call: str | None = None


class Demonstrations:
    """An expert's labelled requests and the ones to show for a request.

    `embedder` is called on first use (loading an embedder must not slow down building
    a guild); without it every demonstration is shown and none decides anything.
    """

    def __init__(
        self,
        tools: Sequence[BaseTool],
        answered: Sequence[str] = (),
        *,
        embedder: Callable[[], Embeddings] | None = None,
        shown: int = 4,
    ) -> None:
        calls = [Demonstration(request, item.name, dict(args)) for item in tools for request, args in examples_of(item)]
        self.items = calls + [Demonstration(request) for request in answered]
        self.embedder = embedder
        self.shown = shown
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    def select(self, request: str) -> Selection:
        """What to show before `request` and the tool its nearest labelled request calls.

        With an embedder: the `shown` nearest, least similar first, and the nearest one's
        tool — None when that one is answered without a tool, or when no labelled request
        is (every request would otherwise be a call). Without: every demonstration, in a
        fixed order, and no tool.
        """
        if self.embedder is None or not self.items:
            # A fixed order that mixes tools and answers, so that no single action comes last.
            return Selection(sorted(self.items, key=lambda item: zlib.crc32(item.request.encode())))
        similarities = self._similarities(request)  # one embedding of the request for both
        order = np.argsort(similarities, kind="stable")
        shown = [self.items[i] for i in order[len(order) - self.shown :]] if self.shown else []
        if all(item.tool is not None for item in self.items):
            return Selection(shown)
        return Selection(shown, self.items[int(np.argmax(similarities))].tool)

    def _similarities(self, request: str) -> np.ndarray:
        assert self.embedder is not None
        embedder = self.embedder()
        with self._lock:  # embedded once, on first use, whichever thread comes first
            if self._vectors is None:
                self._vectors = unit(embedder.embed_documents([i.request for i in self.items]))
        return self._vectors @ unit(embedder.embed_query(request))
