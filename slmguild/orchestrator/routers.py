"""Routers: which expert owns a request, or nobody.

- `EmbeddingRouter`: each expert's exemplars, grouped by sub-topic, become one centroid
  per group; an expert scores its best group's cosine similarity to the request. No
  generation, a few milliseconds. Below the winner's threshold, nobody owns the request.
- `LLMRouter`: the model picks an expert (or "none") under a JSON-schema enum.
- `CascadeRouter` (default): the embedding router, asking the LLM only when the top two
  are too close to call (if it has one), and keeping a follow-up with the expert of the
  conversation unless the request clearly belongs to another.
- `TrainedRouter` (`trained_router.py`): a classifier fitted on the exemplars and on
  requests nobody owns, by `slmguild router train`; it replaces the centroids' scores.
- `DocumentRouter`: wraps any of them; what it leaves to nobody goes to the expert whose
  documents match it well (`routing.document_match`, on by default).

Scoring by sub-topic centroids rather than by single exemplars is measured, not a taste:
on CLINC150 it beat every flat method (`benchmarks/routing.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from slmguild.vectors import unit

NONE = "none"  # what the LLM router answers when no expert owns a request


@dataclass(frozen=True)
class RouteDecision:
    """Who owns a request (`expert` None: nobody), with every expert's score."""

    expert: str | None
    reason: str
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def margin(self) -> float:
        """How far the best score is ahead of the second (1.0 with a single expert)."""
        top = sorted(self.scores.values(), reverse=True)
        return top[0] - top[1] if len(top) > 1 else 1.0


class Router(Protocol):
    """Anything that can say who owns a request."""

    def route(self, message: str, current: str | None = None) -> RouteDecision:
        """The decision for `message`; `current` is the expert of the conversation so far."""
        ...

    async def aroute(self, message: str, current: str | None = None) -> RouteDecision: ...


class ScoringRouter(Router, Protocol):
    """A router that scores every expert without generating (embedding or trained): the
    cascade and the clause planner build on it."""

    def scores(self, message: str) -> dict[str, float]:
        """Every expert's score for `message`."""
        ...

    def decide(self, scores: dict[str, float]) -> RouteDecision:
        """The owner these scores give (None: nobody)."""
        ...


class EmbeddingRouter:
    """Cosine similarity to each expert's sub-topic centroids, with per-expert thresholds."""

    def __init__(
        self,
        embedder: Embeddings,
        exemplars: Mapping[str, Mapping[str, Sequence[str]]],
        *,
        thresholds: Mapping[str, float] | None = None,
        default_threshold: float = 0.0,
    ) -> None:
        self.embedder = embedder
        nonempty = {expert: {g: list(t) for g, t in groups.items() if t} for expert, groups in exemplars.items()}
        self.exemplars = {expert: groups for expert, groups in nonempty.items() if groups}
        self.thresholds = dict(thresholds or {})
        self.default_threshold = default_threshold
        self._centroids: tuple[list[str], np.ndarray] | None = None

    @property
    def experts(self) -> list[str]:
        return list(self.exemplars)

    def scores(self, message: str) -> dict[str, float]:
        """Every expert's score for `message`: its best sub-topic centroid's cosine."""
        if not self.exemplars:
            return {}  # nothing to compare with: not even worth loading the embedder
        owners, centroids = self._fit()
        query = unit(self.embedder.embed_query(message))
        similarities = centroids @ query
        best: dict[str, float] = {}
        for owner, similarity in zip(owners, similarities.tolist(), strict=True):
            best[owner] = max(best.get(owner, -1.0), similarity)
        return {expert: round(score, 4) for expert, score in best.items()}

    def route(self, message: str, current: str | None = None) -> RouteDecision:
        return self.decide(self.scores(message))

    async def aroute(self, message: str, current: str | None = None) -> RouteDecision:
        return await asyncio.to_thread(self.route, message, current)

    def decide(self, scores: dict[str, float]) -> RouteDecision:
        """The best expert if it clears its threshold, else nobody."""
        if not scores:
            return RouteDecision(None, "no expert has routing exemplars", scores)
        best = max(scores, key=scores.__getitem__)
        threshold = self.threshold(best)
        if scores[best] < threshold:
            return RouteDecision(
                None, f"best match {best} ({scores[best]:.3f}) is below its threshold {threshold:.3f}", scores
            )
        return RouteDecision(best, f"closest exemplars ({scores[best]:.3f})", scores)

    def threshold(self, expert: str) -> float:
        return self.thresholds.get(expert, self.default_threshold)

    def calibrate(self, labelled: Iterable[tuple[str, str | None]]) -> dict[str, float]:
        """Fit each expert's threshold on labelled requests (expert None: nobody's).

        For the requests an expert wins, pick the threshold that keeps the most of its
        own and turns away the most of the others'; sets and returns the thresholds.
        """
        won: dict[str, list[tuple[float, bool]]] = {}
        for text, expert in labelled:
            scores = self.scores(text)
            best = max(scores, key=scores.__getitem__)
            won.setdefault(best, []).append((scores[best], best == expert))
        for expert, rows in won.items():
            candidates = sorted({score for score, _ in rows}) + [1.01]
            best_threshold = max(candidates, key=lambda t: (_threshold_outcome(rows, t), -t))
            self.thresholds[expert] = round(min(best_threshold, 1.0), 4)
        return dict(self.thresholds)

    def _fit(self) -> tuple[list[str], np.ndarray]:
        # Embedded once, on first use: building a guild must stay cheap.
        if self._centroids is None:
            owners, groups = [], []
            for expert, topics in self.exemplars.items():
                for texts in topics.values():
                    owners.append(expert)
                    groups.append(texts)
            vectors = np.asarray(
                self.embedder.embed_documents([text for group in groups for text in group]), dtype=np.float32
            )
            centroids, start = [], 0
            for group in groups:
                centroids.append(unit(vectors[start : start + len(group)].mean(axis=0)))
                start += len(group)
            self._centroids = (owners, np.stack(centroids))
        return self._centroids


class LLMRouter:
    """The model names the expert (or "none") under a JSON schema with an enum of names."""

    def __init__(self, model: BaseChatModel, descriptions: Mapping[str, str]) -> None:
        self.model = model
        self.descriptions = dict(descriptions)

    def route(self, message: str, current: str | None = None) -> RouteDecision:
        return asyncio.run(self.aroute(message, current))

    async def aroute(
        self, message: str, current: str | None = None, *, among: Sequence[str] | None = None
    ) -> RouteDecision:
        """Ask the model; `among` limits the choice (the cascade's close call)."""
        names = list(among or self.descriptions)
        schema = {
            "title": "route",
            "type": "object",
            "properties": {"expert": {"type": "string", "enum": [*names, NONE]}},
            "required": ["expert"],
        }
        listing = "\n".join(f"- {name}: {self.descriptions[name]}" for name in names)
        messages = [
            SystemMessage(
                "Pick the expert who owns the user's request, or none if no expert owns it.\n"
                f"Experts:\n{listing}\n- {NONE}: no expert owns it"
            ),
            HumanMessage(message),
        ]
        decide = self.model.with_structured_output(schema, method="json_schema")
        try:
            result = await decide.ainvoke(messages)
            choice = (result if isinstance(result, dict) else json.loads(str(result)))["expert"]
        except Exception as exc:  # a model that fails to decide must not fail the turn  # noqa: BLE001
            return RouteDecision(None, f"the LLM router could not decide: {exc}")
        expert = None if choice == NONE else choice
        return RouteDecision(expert, f"chosen by the LLM router among {', '.join(names)}")


class CascadeRouter:
    """Embeddings first; the LLM only for close calls; follow-ups stay where they are."""

    def __init__(
        self,
        embedding: ScoringRouter,
        llm: LLMRouter | None = None,
        *,
        close_call: float = 0.03,
        switch_margin: float = 0.05,
    ) -> None:
        self.embedding = embedding
        self.llm = llm
        self.close_call = close_call
        self.switch_margin = switch_margin

    def route(self, message: str, current: str | None = None) -> RouteDecision:
        scores = self.embedding.scores(message)
        decision = self.embedding.decide(scores)
        if current is not None and current in scores and self._is_follow_up(decision, current):
            return RouteDecision(current, f"follow-up: stays with {current}", scores)
        if self.llm is not None and decision.expert is not None and decision.margin < self.close_call:
            top_two = sorted(scores, key=scores.__getitem__, reverse=True)[:2]
            tie_break = asyncio.run(self.llm.aroute(message, current, among=top_two))
            if tie_break.expert is not None:
                return RouteDecision(
                    tie_break.expert, f"close call ({decision.margin:.3f}): {tie_break.reason}", scores
                )
        return decision

    async def aroute(self, message: str, current: str | None = None) -> RouteDecision:
        # Embedding (and a tie-break's generation) block: keep the event loop free.
        return await asyncio.to_thread(self.route, message, current)

    def _is_follow_up(self, decision: RouteDecision, current: str) -> bool:
        """A request that no expert clearly owns, or that `current` nearly wins, stays."""
        if decision.expert in (None, current):
            return True
        return decision.scores[decision.expert] - decision.scores[current] < self.switch_margin


class DocumentRouter:
    """A router, then the experts' own documents for the requests it leaves to nobody.

    Exemplars cannot foresee every wording; a request that one expert's documents match
    well is that expert's. `similarities(message)` gives each expert's best chunk cosine;
    asked only when the inner router finds no owner, so a routed turn costs nothing more.
    """

    def __init__(
        self, router: Router, similarities: Callable[[str], Mapping[str, float]], threshold: float
    ) -> None:
        self.router = router
        self.similarities = similarities
        self.threshold = threshold

    def route(self, message: str, current: str | None = None) -> RouteDecision:
        decision = self.router.route(message, current)
        if decision.expert is not None:
            return decision
        found = self.similarities(message)
        best = max(found, key=found.__getitem__, default=None)
        if best is None or found[best] < self.threshold:
            return decision
        return RouteDecision(best, f"its documents match ({found[best]:.3f}); {decision.reason}", decision.scores)

    async def aroute(self, message: str, current: str | None = None) -> RouteDecision:
        return await asyncio.to_thread(self.route, message, current)


def _threshold_outcome(rows: list[tuple[float, bool]], threshold: float) -> int:
    """Requests a threshold gets right: its own kept, the others' turned away.

    A request the wrong expert won counts as turned away rightly: the fallback is a
    better answer than the wrong expert's.
    """
    kept = sum(1 for score, right in rows if score >= threshold and right)
    turned_away = sum(1 for score, right in rows if score < threshold and not right)
    return kept + turned_away
