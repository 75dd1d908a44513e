"""The embedded engine failing in the middle of an answer: the turn ends with a clear
`BackendUnavailable`, the session keeps every finished turn, and the next turn works on
a freshly started engine.

The fault is injected into the real engine: its llama.cpp server streams a few pieces
of a real answer, then raises, as a failing native call would.
"""

from __future__ import annotations

from typing import Any

import pytest

from slmguild.errors import BackendUnavailable
from slmguild.serving.engine import engine_for
from tests.reliability.test_faults import one_expert_guild

pytestmark = pytest.mark.integration


class FailingServer:
    """A llama.cpp server that fails after streaming `pieces` chunks of a real answer."""

    def __init__(self, real: Any, pieces: int) -> None:
        self.real = real
        self.pieces = pieces

    def handle_chat_completions(self, request: dict[str, Any], on_chunk: Any = None) -> Any:
        if on_chunk is None:
            raise RuntimeError("llama.cpp server crashed")
        sent = 0

        def forward(chunk: dict[str, Any]) -> bool:
            nonlocal sent
            sent += 1
            on_chunk(chunk)
            return sent >= self.pieces  # cancel the real generation here...

        self.real.handle_chat_completions(request, forward)
        raise RuntimeError("llama.cpp server crashed")  # ...and fail as the native call would


def test_the_engine_failing_mid_answer_loses_only_that_turn(tmp_path, smollm2):
    guild = one_expert_guild(tmp_path, backend="embedded", name=str(smollm2),
                             generation={"max_tokens": 24, "temperature": 0, "seed": 1})
    first = guild.run("How do I reset my VPN password?", expert="it", session="alice")
    engine = engine_for(smollm2)
    healthy = engine.server
    engine._server = FailingServer(healthy, pieces=3)  # the fault, on the engine the guild uses

    streamed = []
    with pytest.raises(BackendUnavailable, match="failed in the middle of an answer .*restarts on the next request"):
        for event in guild.stream("And my Wi-Fi password?", expert="it", session="alice"):
            streamed.append(getattr(event, "text", ""))
    assert "".join(streamed).strip()  # the answer had started streaming

    saved = guild.session("alice")
    assert [turn.message for turn in saved["traces"]] == ["How do I reset my VPN password?"]
    assert saved["traces"][0].text == first.text

    again = guild.run("And my Wi-Fi password?", expert="it", session="alice")
    assert again.text and engine.server is not healthy  # a fresh engine answered
    assert [turn.message for turn in guild.session("alice")["traces"]] == [
        "How do I reset my VPN password?", "And my Wi-Fi password?"]
