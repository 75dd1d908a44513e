"""Experts: a system prompt, a model (base + adapter), knowledge and tools."""

from slmguild.agents.expert import Expert

__all__ = ["Expert"]
