"""The Expert: one member of the guild and the loop that produces its answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, SystemMessage

from slmguild.config import ModelSpec
from slmguild.serving import backend_errors


@dataclass
class Expert:
    """A domain expert: what it owns, how it is told to behave, and the model that answers."""

    name: str
    description: str
    system_prompt: str
    model: BaseChatModel
    spec: ModelSpec

    def messages(self, question: str, history: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
        """The conversation the model sees: system prompt, earlier turns, the question."""
        return [SystemMessage(self.system_prompt), *history, HumanMessage(question)]

    def stream(
        self, question: str, history: Sequence[BaseMessage] = ()
    ) -> Iterator[AIMessageChunk]:
        """The answer as it is generated; the last chunk carries usage metadata."""
        with backend_errors(self.spec):
            yield from self.model.stream(self.messages(question, history))

    async def astream(
        self, question: str, history: Sequence[BaseMessage] = ()
    ) -> AsyncIterator[AIMessageChunk]:
        """`stream`, for asyncio callers."""
        with backend_errors(self.spec):
            async for chunk in self.model.astream(self.messages(question, history)):
                yield chunk
