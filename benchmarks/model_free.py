"""The example guild with no model time, for the benchmarks of the framework itself."""

from __future__ import annotations

from pathlib import Path

import slmguild
from slmguild.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
REPLY = "Use the self-service portal and approve the prompt on your phone, then connect again."


def model_free_guild(sessions_store: Path, replies: int) -> slmguild.Guild:
    """The example guild answering `REPLY` (streamed word by word) up to `replies` times,
    with real routing, no retrieval and no tool phase, sessions in `sessions_store`."""
    config = slmguild.load_config(ROOT / "examples/acme/guild.yaml")
    config.sessions.store = str(sessions_store)
    for expert in config.experts.values():
        expert.knowledge.sources, expert.tools = [], []  # model-free: no retrieval, no tool phase
    model = ScriptedModel(replies=[REPLY] * replies)
    return slmguild.Guild(config, models=lambda _role, _spec: model)
