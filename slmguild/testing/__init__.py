"""Test doubles for exact, fast tests of guilds: no model, no engine, no network."""

from slmguild.testing.scripted import ScriptedModel

__all__ = ["ScriptedModel"]
