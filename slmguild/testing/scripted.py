"""`ScriptedModel`: a chat model that answers from a script, and checks it was all used."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from slmguild.serving.structured import JsonSchemaOutput


@dataclass(frozen=True)
class StepReply:
    """A reply to a step decision (a request under a JSON schema) that the model may never
    be asked for: when the next request is free text instead, it is passed over. An expert
    skips its tool step when the request needs none (`Expert.tool_step`)."""

    text: str


Reply = str | AIMessage | StepReply | Callable[[list[BaseMessage], dict[str, Any]], "str | AIMessage"]


class ScriptedModel(JsonSchemaOutput, BaseChatModel):
    """Replies with the next item of `replies` on every request, in order.

    A reply is a string, an `AIMessage` (e.g. with `tool_calls`), a `StepReply`, or a
    function of the request's messages and options (`response_format`, `tools`)
    returning a string or a message. Every request is kept in `requests` for
    assertions. A request after the script ran out fails the test, and so does a script
    left unused: call `assert_all_used()` or use the model as a context manager. `name`
    (optional) names it in those failures.

        with ScriptedModel(replies=['{"action": "answer"}', "Use the portal."]) as model:
            ...
    """

    replies: list[Any] = Field(default_factory=list)
    requests: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _label(self) -> str:
        return f"ScriptedModel '{self.name}'" if self.name else "ScriptedModel"

    @property
    def _llm_type(self) -> str:
        return "slmguild-scripted"

    def _next(self, messages: list[BaseMessage], options: dict[str, Any]) -> AIMessage:
        self.requests.append({"messages": list(messages), **options})
        while self.replies and isinstance(self.replies[0], StepReply) and "response_format" not in options:
            self.replies.pop(0)  # the step was skipped: this request is the answer
        if not self.replies:
            last = messages[-1].text if messages else ""
            raise AssertionError(
                f"{self._label} has no reply left for request {len(self.requests)} "
                f"(last message: {last[:120]!r})"
            )
        reply = self.replies.pop(0)
        if isinstance(reply, StepReply):
            reply = reply.text
        if callable(reply):
            reply = reply(list(messages), options)
        return reply if isinstance(reply, AIMessage) else AIMessage(content=reply)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._next(messages, kwargs)
        # Word by word, as a model would stream it; the pieces join back to the reply.
        for piece in re.findall(r"\s*\S+|\s+$", reply.text):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Records the tools in the request; scripted replies decide whether to call them."""
        return self.bind(tools=[getattr(item, "name", item) for item in tools], **kwargs)

    def assert_all_used(self) -> None:
        """Fail if some scripted replies were never requested."""
        if self.replies:
            raise AssertionError(f"{self._label}: {len(self.replies)} scripted replies were never used")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.assert_all_used()
