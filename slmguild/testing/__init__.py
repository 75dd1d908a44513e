"""Test doubles for exact, fast tests of guilds: no model, no engine, no network.

- `ScriptedModel`: answers from a script and fails if a reply goes unused (a `StepReply`
  is only for a step decision, and passed over when the expert skips the step);
- `FakeEmbedder`: deterministic embeddings from word hashes;
- `expert_replies`, `tool_step`, `ANSWER_STEP`: an expert's tool phase, scripted;
- `model_requests(allowed)`: switch real model requests on or off (the pytest plugin
  switches them off for every test that is not marked `allow_model_requests`).
"""

from slmguild.testing.embedder import FakeEmbedder
from slmguild.testing.gate import model_requests
from slmguild.testing.scripted import ScriptedModel, StepReply
from slmguild.testing.steps import ANSWER_STEP, expert_replies, tool_step

__all__ = [
    "ANSWER_STEP", "FakeEmbedder", "ScriptedModel", "StepReply", "expert_replies", "model_requests", "tool_step",
]
