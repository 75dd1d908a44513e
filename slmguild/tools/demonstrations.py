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

Two things keep the topic of a request from outweighing what it asks for. Requests
are compared clause by clause: "please open a ticket: the printer in room 2 is jammed"
says what to do in one clause and what about in the other, and an embedding of the
whole sentence mostly hears the printer, which the expert also answers questions
about. And a request that holds a value in the form a tool requires (a ticket id in
its pattern, the dates it counts between, in any usual form) calls that tool
(`supplies_arguments`), and a tool whose values nobody gave is never forced: "how many
days off do I have left?" is near `leave_balance`, but without an employee id the
model decides (and may ask for the id).
"""

from __future__ import annotations

import json
import re
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
from slmguild.tools.grounding import supplies_arguments
from slmguild.tools.steps import ANSWER
from slmguild.vectors import unit

# Where a request's clauses part: sentence and clause punctuation, a spaced dash, a joining word.
_CLAUSE_BREAK = re.compile(r"[.!?;:,]\s+|\s+-\s+|\s+(?:and|but|so)\s+", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """`text`, followed by its clauses of two words or more when it has several."""
    parts = [part.strip() for part in _CLAUSE_BREAK.split(text) if len(part.split()) >= 2]
    return [text, *parts] if len(parts) > 1 else [text]


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
    """The demonstrations to show for a request, and the tool to call without asking —
    or why none: `nearest_answers`, the nearest labelled request is answered without a
    tool and the request holds no tool's formed values; `nearest_lacks_values`, the
    nearest calls a tool whose formed values (ids, dates, numbers) the conversation lacks."""

    shown: list[Demonstration]
    nearest_call: str | None = None
    nearest_answers: bool = False
    nearest_lacks_values: bool = False

    def agreeing(self, other: Selection) -> Selection:
        """`other`'s demonstrations, and a tool to call only where `other` (the same
        request read another way: a follow-up in context) is nearest the same one; where
        they disagree, as if the nearest request were answered without a tool."""
        agree = self.nearest_call == other.nearest_call
        return Selection(other.shown, self.nearest_call if agree else None,
                         nearest_answers=self.nearest_answers or other.nearest_answers or not agree,
                         nearest_lacks_values=self.nearest_lacks_values and other.nearest_lacks_values)


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
        self.tools = {item.name: item for item in tools}
        self.embedder = embedder
        self.shown = shown
        # A unit vector per clause of a labelled request, and the labelled request of each.
        self._clauses: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def select(self, request: str, context: str | None = None, *, leave_out: str | None = None) -> Selection:
        """What to show before `request` and the tool to call without asking the model.

        With an embedder: the `shown` nearest, least similar first, and the tool of
        the nearest one — or, when the request supplies a tool's formed arguments, the
        nearest of those tools. No tool when that tool's formed arguments are neither
        in the request nor in `context` (what the user said in the whole conversation):
        the next nearest tool is not a better guess ("the status of my ticket" is no
        request to open one). No tool when the nearest request is answered without
        one, nor when no labelled request is (every request would otherwise be a
        call). Without an embedder: every demonstration, in a fixed order, and no tool.
        `leave_out`: a labelled request neither shown nor deciding (a training prompt made
        from a demonstration must not show its own answer).
        """
        if self.embedder is None or not self.items:
            # A fixed order that mixes tools and answers, so that no single action comes last.
            return Selection(sorted(self.items, key=lambda item: zlib.crc32(item.request.encode())))
        similarities = self._similarities(request)  # one embedding of the request for both
        order = [i for i in np.argsort(similarities, kind="stable") if self.items[i].request != leave_out]
        shown = [self.items[i] for i in order[len(order) - self.shown :]] if self.shown else []
        if all(item.tool is not None for item in self.items):
            return Selection(shown)
        supplied = {name for name, item in self.tools.items() if supplies_arguments(item, request)}
        lacking = {name for name, item in self.tools.items() if supplies_arguments(item, context or request) is False}
        candidates = [i for i in order if self.items[i].tool in supplied]
        nearest = self.items[candidates[-1] if candidates else order[-1]].tool
        return Selection(shown, None if nearest in lacking else nearest, nearest_answers=nearest is None,
                         nearest_lacks_values=nearest in lacking)

    def _similarities(self, request: str) -> np.ndarray:
        """Each labelled request's similarity to `request`: that of their closest clauses."""
        assert self.embedder is not None
        embedder = self.embedder()
        with self._lock:  # embedded once, on first use, whichever thread comes first
            if self._clauses is None:
                clause_owners, texts = zip(
                    *((i, part) for i, item in enumerate(self.items) for part in clauses(item.request)))
                self._clauses = unit(embedder.embed_documents(list(texts))), np.array(clause_owners)
        vectors, owners = self._clauses
        by_clause = (vectors @ unit(embedder.embed_documents(clauses(request))).T).max(axis=1)
        similarities = np.full(len(self.items), -np.inf)
        np.maximum.at(similarities, owners, by_clause)
        return similarities
