"""Load: 50 concurrent sessions through the async library API (scripted models, SQLite
sessions). Every reply lands in its own session, nothing is lost, and each session's
saved state is exactly its own conversation, in order. Throughput and latency are
measured by benchmarks/load.py."""

from __future__ import annotations

import asyncio

from tests.test_orchestrator import scripted_guild

SESSIONS, TURNS = 50, 3
QUESTIONS = ["how many leave days do I have", "how do I reset my vpn password", "what is the hotel limit per night"]


def test_fifty_concurrent_sessions_lose_nothing_and_never_cross_talk(tmp_path):
    guild = scripted_guild(tmp_path, turns=SESSIONS * TURNS)

    async def converse(user: str) -> list[str]:
        replies = []
        for question in QUESTIONS[:TURNS]:
            reply = await guild.arun(f"{question}, {user}", session=user)
            replies.append(reply.text)
        return replies

    async def everyone() -> list[list[str]]:
        return await asyncio.gather(*(converse(f"user{n:02d}") for n in range(SESSIONS)))

    replies = asyncio.run(everyone())
    assert sum(len(texts) for texts in replies) == SESSIONS * TURNS  # no lost turn
    for n, texts in enumerate(replies):
        user = f"user{n:02d}"
        assert all(text.endswith(f", {user}") for text in texts), texts  # each reply answers its own question
        state = guild.session(user)
        asked = [f"{question}, {user}" for question in QUESTIONS[:TURNS]]
        assert [trace.message for trace in state["traces"]] == asked
        assert [message.text for message in state["messages"]] == [
            text for pair in zip(asked, texts, strict=True) for text in pair
        ]
    assert sorted(guild.sessions()) == [f"user{n:02d}" for n in range(SESSIONS)]
