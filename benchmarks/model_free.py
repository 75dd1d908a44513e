"""The example guild with no model time, for the benchmarks of the framework itself."""

from __future__ import annotations

from pathlib import Path

import slmguild
from slmguild.config import EmbedderSpec
from slmguild.orchestrator.trained_router import RouterModel, TrainedRouter
from slmguild.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
REPLY = "Use the self-service portal and approve the prompt on your phone, then connect again."


def model_free_guild(
    sessions_store: Path, replies: int, *, centroids: bool = False, embedder: str | None = None
) -> slmguild.Guild:
    """The example guild answering `REPLY` (streamed word by word) up to `replies` times,
    with real routing (its trained router, or the exemplar centroids if `centroids`), no
    retrieval and no tool phase, sessions in `sessions_store`; `embedder`: another catalog
    ONNX embedder than the guild's, for its speed (the router keeps its weights)."""
    config = slmguild.load_config(ROOT / "examples/acme/guild.yaml")
    if embedder:
        config.knowledge.embedder = EmbedderSpec(backend="onnx", name=embedder)
    config.sessions.store = str(sessions_store)
    trained = None if centroids else config.routing.model
    config.routing.model = None
    for expert in config.experts.values():
        expert.knowledge.sources, expert.tools = [], []  # model-free: no retrieval, no tool phase
    model = ScriptedModel(replies=[REPLY] * replies)
    guild = slmguild.Guild(config, models=lambda _role, _spec: model)
    if trained:
        # Trained on the whole guild, tools' examples included: still this guild's router,
        # although the tool phase is off here (the guild itself would call it stale).
        guild.routing.__dict__["scorer"] = TrainedRouter(guild.knowledge.embedder, RouterModel.load(trained))
    return guild
