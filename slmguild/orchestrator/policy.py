"""The routing policy: who answers a request, and when a turn goes to the larger model.

It reads the guild file's `routing:` settings and builds what they name — the router
(cascade, embedding, LLM; with document matching), the scorer it rests on (the trained
router or the exemplar centroids) and the multi-expert planner — then decides each turn:
the caller's choice, the user's escalation, a plan across experts, a follow-up kept in
context, or the router's pick (`docs/routing.md`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any, TypedDict

from slmguild.config import GuildConfig
from slmguild.knowledge import Hit, KnowledgeBase
from slmguild.orchestrator.follow_ups import InContext, in_context
from slmguild.orchestrator.planner import LLMPlanner, Plan, split_by_clauses
from slmguild.orchestrator.roster import ESCALATION, FALLBACK, ModelFactory, Roster
from slmguild.orchestrator.routers import (
    CascadeRouter,
    DocumentRouter,
    EmbeddingRouter,
    LLMRouter,
    RouteDecision,
    Router,
    ScoringRouter,
)
from slmguild.orchestrator.trace import RouteTrace
from slmguild.orchestrator.trained_router import (
    RouterModel,
    TrainedRouter,
    fingerprint,
    general_requests,
    tuned_embedder,
    with_description_topics,
)
from slmguild.tools.definition import examples_of

log = logging.getLogger("slmguild.orchestrator")


class Request(TypedDict, total=False):
    """A turn's input: the message and the caller's overrides."""

    message: str
    expert: str | None  # forced by the caller (tests, `/expert NAME`)
    escalate: bool  # the user asked for the escalation model
    sampling: dict[str, Any] | None  # the caller's options for a generated answer (`Expert.sampling`)


class RoutingPolicy:
    """Decides who answers each request of a guild (`decide`), built from its config, its
    roster of experts, its knowledge (the embedder, the documents) and its model factory.
    The routers and models load on first use."""

    def __init__(self, config: GuildConfig, roster: Roster, knowledge: KnowledgeBase, models: ModelFactory) -> None:
        self.config = config
        self.roster = roster
        self.knowledge = knowledge
        self._models = models

    @cached_property
    def embedding_router(self) -> EmbeddingRouter:
        routing = self.config.routing
        return EmbeddingRouter(
            self.knowledge.embedder,
            self.routing_exemplars(),
            thresholds=routing.thresholds,
            default_threshold=routing.default_threshold,
        )

    def routing_exemplars(self) -> dict[str, dict[str, list[str]]]:
        """Each expert's routing exemplars, grouped by sub-topic."""
        return {name: expert.exemplar_groups() for name, expert in self.config.experts.items()}

    def training_exemplars(self) -> dict[str, dict[str, list[str]]]:
        """What the trained router learns each expert owns: its routing exemplars, the
        requests of its tools' examples as one sub-topic per tool (`tool:NAME`), and the
        topic phrases of its description (`topic:PHRASE`)."""
        exemplars = self.routing_exemplars()
        for name, expert in self.roster.experts.items():
            for item in expert.tools:
                if requests := [request for request, _ in examples_of(item)]:
                    exemplars[name][f"tool:{item.name}"] = requests
        return with_description_topics(
            exemplars, {name: expert.description for name, expert in self.config.experts.items()})

    def out_of_scope_examples(self) -> list[str]:
        """What the trained router learns that nobody owns: the shipped general requests
        and the guild's own `routing.out_of_scope`."""
        return [*general_requests(), *self.config.routing.out_of_scope]

    def routing_documents(self) -> dict[str, dict[str, list[str]]]:
        """Each expert's ingested documents: their chunks' texts, by source file."""
        return {
            name: self.knowledge.store.chunk_texts(name)
            for name in self.roster.experts
            if self.knowledge.retriever(name) is not None and self.knowledge.store.exists(name)
        }

    @cached_property
    def scorer(self) -> ScoringRouter:
        """What scores a request against each expert: the trained router (`routing.model`)
        when it was trained on the guild's present exemplars, else the exemplar centroids."""
        path = self.config.routing.model
        if path is None:
            return self.embedding_router
        model = RouterModel.load(path)
        current = fingerprint(self.training_exemplars(), self.out_of_scope_examples(),
                              self.knowledge.embedder_name)
        if model.fingerprint != current:
            log.warning("%s was trained on other exemplars or another embedder: routing by the exemplar "
                        "centroids until `slmguild router train` is run again", path)
            return self.embedding_router
        return TrainedRouter(tuned_embedder(path) if model.tuned_encoder else self.knowledge.embedder, model)

    @cached_property
    def router(self) -> Router:
        """The router the guild file asks for (`routing.router`, cascade by default)."""
        routing = self.config.routing
        descriptions = {name: expert.description for name, expert in self.config.experts.items()}
        llm = LLMRouter(self._models("router", self.config.defaults), descriptions)
        router: Router
        if routing.router == "llm":
            router = llm
        elif routing.router == "embedding":
            router = self.scorer
        else:
            router = CascadeRouter(
                self.scorer,
                llm if routing.tie_breaker else None,
                close_call=routing.close_call,
                switch_margin=routing.switch_margin,
            )
        if routing.document_match is None:
            return router
        return DocumentRouter(router, self.document_similarities, routing.document_match)

    def in_context(self, message: str, previous: str | None) -> InContext:
        """`message` as routing and search read it after the conversation's last question
        in context, `previous` (as asked, when `routing.follow_ups` is off)."""
        return in_context(message, previous if self.config.routing.follow_ups else None)

    def decide(self, request: Request, current: str | None = None, context: InContext | None = None) -> RouteTrace | Plan:
        """Who answers `request`: one expert's route (with the `query` it was routed on, for
        a follow-up: `context`), or a `Plan` that splits it across several. `current`: the
        expert the conversation is with."""
        follow_up = context if context is not None and context.follows else None
        query = follow_up.query if follow_up is not None else None
        forced = request.get("expert")
        if forced:  # the guild checked the name before the graph ran
            return RouteTrace(expert=forced, reason="forced by the caller", query=query)
        if request.get("escalate"):
            self.roster.expert(ESCALATION)
            return RouteTrace(expert=ESCALATION, reason="asked for by the user", query=query)
        message = request["message"]
        # A follow-up is one question about the turn before, whatever its clauses.
        if self.config.routing.multi_expert and len(self.roster.experts) > 1 and follow_up is None:
            plan = self._plan(message)
            if plan is not None:
                return plan
        if follow_up is not None:
            decision = self._route_follow_up(follow_up, current)
        else:
            decision = self.router.route(message, current)
        if decision.expert is not None:
            return RouteTrace(expert=decision.expert, reason=decision.reason, scores=decision.scores, query=query)
        target = ESCALATION if self.roster.escalation is not None else FALLBACK
        return RouteTrace(expert=target, reason=f"no expert owns it: {decision.reason}", scores=decision.scores,
                          query=query)

    def _route_follow_up(self, context: InContext, current: str | None) -> RouteDecision:
        """A follow-up's expert, judged on its own words and on the question in context
        alike (their scores averaged): its own words alone send "is there money for that?"
        to finance whatever "that" was, the context alone keeps every follow-up where it
        was. Words that no expert owns on their own ("and for contractors?") are left to
        the context. It stays with `current` unless another expert wins by `switch_margin`."""
        own, whole = self.router.route(context.question), self.router.route(context.query, current)
        if own.expert is None or not own.scores or not whole.scores:  # the context decides
            return whole
        scores = {name: (own.scores.get(name, 0.0) + whole.scores.get(name, 0.0)) / 2
                  for name in own.scores.keys() | whole.scores.keys()}
        best = max(scores, key=scores.__getitem__)
        if current in scores and scores[best] - scores[current] < self.config.routing.switch_margin:
            return RouteDecision(current, f"follow-up: stays with {current}", scores)
        return RouteDecision(best, f"follow-up, in context: {best} ({scores[best]:.2f})", scores)

    def document_similarities(self, message: str) -> dict[str, float]:
        """Each expert with ingested knowledge: the cosine of its chunk most similar to `message`
        (one dense search per expert)."""
        found = {}
        for name in self.roster.experts:
            if self.knowledge.retriever(name) is None or not self.knowledge.store.exists(name):
                continue
            hits = self.knowledge.search(name, message, top_k=1, mode="dense", rerank=False)
            if hits and hits[0].similarity is not None:
                found[name] = hits[0].similarity
        return found

    @cached_property
    def llm_planner(self) -> LLMPlanner:
        """The model that splits multi-expert requests when `routing.planner` is `llm`."""
        descriptions = {name: expert.description for name, expert in self.config.experts.items()}
        return LLMPlanner(self._models("planner", self.config.defaults), descriptions)

    def _plan(self, message: str) -> Plan | None:
        if self.config.routing.planner == "llm":
            return self.llm_planner.plan(message)
        return split_by_clauses(message, self.scorer)

    def should_escalate(self, hits: Sequence[Hit]) -> bool:
        """An expert whose documents say nothing relevant hands the turn to the escalation model."""
        if self.roster.escalation is None:
            return False
        best = max((hit.similarity for hit in hits if hit.similarity is not None), default=None)
        return not hits or (best is not None and best < self.config.routing.min_relevance)
