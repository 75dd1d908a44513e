"""Test doubles for exact, fast tests of guilds: no model, no engine, no network."""

from slmguild.testing.embedder import FakeEmbedder
from slmguild.testing.scripted import ScriptedModel

__all__ = ["FakeEmbedder", "ScriptedModel"]
