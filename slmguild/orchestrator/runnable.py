"""The guild, or one of its experts, as a LangChain Runnable.

LCEL chains, `batch`, and the async twins come with LangChain's `Runnable`: the guild
answers like a chat model does — an `AIMessageChunk` per piece of the answer while it
streams, their sum once invoked — and the turn's `Reply` (who answered, with which model,
the sources, the trace, a call waiting for approval) travels in the last chunk's
`response_metadata`, as `Reply.as_json` gives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import Runnable, RunnableGenerator

from slmguild.errors import SlmguildError
from slmguild.orchestrator.events import Done, Event, Token

if TYPE_CHECKING:
    from slmguild.orchestrator.guild import Guild

Ask = str | Mapping[str, Any]
"""A turn's input: the message, or a dict with `message` and the options of `Guild.stream`
(`session`, `user`, `history`, `escalate`, `sampling`; `expert` as well for the guild's runnable)."""


def as_runnable(guild: Guild, expert: str | None = None) -> Runnable[Ask, AIMessageChunk]:
    """`guild` as a Runnable: each input a turn (`Ask`), each output the answer as an
    `AIMessageChunk`. With `expert`, every turn goes to that expert (routing aside)."""
    if expert is not None:
        guild.expert(expert)  # an unknown name fails now, not on the first turn

    def turn(ask: Ask) -> tuple[str, dict[str, Any]]:
        options: dict[str, Any] = {"message": ask} if isinstance(ask, str) else dict(ask)
        if "message" not in options:
            raise SlmguildError("a turn's input is a message, or a dict with 'message'")
        if expert is not None:
            options["expert"] = expert
        return options.pop("message"), options

    def transform(asks: Iterator[Ask]) -> Iterator[AIMessageChunk]:
        for ask in asks:
            message, options = turn(ask)
            yield from filter(None, map(_chunk, guild.stream(message, **options)))

    async def atransform(asks: AsyncIterator[Ask]) -> AsyncIterator[AIMessageChunk]:
        async for ask in asks:
            message, options = turn(ask)
            async for event in guild.astream(message, **options):
                if (chunk := _chunk(event)) is not None:
                    yield chunk

    return RunnableGenerator(transform, atransform, name=f"{guild.name}.{expert}" if expert else guild.name)


def _chunk(event: Event) -> AIMessageChunk | None:
    """What a turn's event adds to the answer: a piece of its text, or — at its end — the
    reply's metadata (None for the events on the way: routes, searches, tool calls)."""
    if isinstance(event, Token):
        return AIMessageChunk(content=event.text)
    if isinstance(event, Done):
        metadata = event.reply.as_json()
        del metadata["text"]  # the chunks before said it
        return AIMessageChunk(content="", response_metadata=metadata)
    return None
