"""langchain-core chat model and embeddings on the embedded engine, called in-process.

In-process calls skip HTTP and SSE parsing on every token; the same engine also
listens on loopback for the `openai` backend and other tools.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from slmguild.config import Generation
from slmguild.serving.engine import EmbeddedEngine
from slmguild.serving.structured import JsonSchemaOutput


class EmbeddedChatModel(JsonSchemaOutput, BaseChatModel):
    """A chat model served by an `EmbeddedEngine`, optionally through one of its adapters."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: EmbeddedEngine
    adapter: str | Path | None = None
    adapter_scale: float = 1.0
    adapter_base: str | None = None  # SHA-256 of the base the adapter was trained on
    generation: Generation = Field(default_factory=Generation)

    def model_post_init(self, context: Any) -> None:
        # Register now, not at the first request: the engine loads every adapter of its
        # base at start-up, and every expert's model is built before anyone asks.
        if self.adapter is not None:
            self.engine.register_adapter(self.adapter, self.adapter_base)

    @property
    def _llm_type(self) -> str:
        return "slmguild-embedded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.engine.model_path.name, "adapter": self.adapter}

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        g = self.generation
        request: dict[str, Any] = {
            "messages": convert_to_openai_messages(messages),
            "temperature": g.temperature,
            "max_tokens": g.max_tokens,
            "stop": stop or g.stop,
            "lora": self.engine.lora_scales(self.adapter, self.adapter_scale),
        }
        if g.top_p is not None:
            request["top_p"] = g.top_p
        if g.seed is not None:
            request["seed"] = g.seed
        if g.repeat_penalty is not None:
            request["repeat_penalty"] = g.repeat_penalty
        request.update(kwargs)
        return request

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = self.engine.chat(self._request(messages, stop, **kwargs))
        choice = response["choices"][0]
        tool_calls, invalid_tool_calls = _tool_calls(choice["message"].get("tool_calls") or [])
        message = AIMessage(
            content=choice["message"].get("content") or "",
            tool_calls=tool_calls,
            invalid_tool_calls=invalid_tool_calls,
            usage_metadata=_usage(response),
            response_metadata=_metadata(response, choice),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self.engine.stream_chat(self._request(messages, stop, **kwargs)):
            if (generation := _chunk_generation(chunk)) is not None:
                if run_manager and generation.text:
                    run_manager.on_llm_new_token(generation.text)
                yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in self.engine.astream_chat(self._request(messages, stop, **kwargs)):
            if (generation := _chunk_generation(chunk)) is not None:
                if run_manager and generation.text:
                    await run_manager.on_llm_new_token(generation.text)
                yield generation

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Native tool calling: llama.cpp renders the tools with the model's chat template.

        Small models rarely answer with a well-formed call this way; slmguild's
        constrained tool calling (`tool_calling: constrained`) is the reliable path.
        """
        request: dict[str, Any] = {"tools": [convert_to_openai_tool(item) for item in tools]}
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        return self.bind(**request, **kwargs)


class EmbeddedEmbeddings(Embeddings):
    """Embeddings from the engine's loaded model (mean pooling over the last layer)."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.engine = engine

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.engine.embed(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.engine.embed([text])[0]


def _chunk_generation(chunk: dict[str, Any]) -> ChatGenerationChunk | None:
    """The langchain chunk of an engine chunk; None for chunks with neither text nor end."""
    choice = chunk["choices"][0] if chunk.get("choices") else {}
    text = (choice.get("delta") or {}).get("content") or ""
    finished = choice.get("finish_reason") is not None
    if not text and not finished:
        return None
    message = AIMessageChunk(
        content=text,
        usage_metadata=_usage(chunk) if finished else None,
        response_metadata=_metadata(chunk, choice) if finished else {},
    )
    return ChatGenerationChunk(message=message)


def _tool_calls(raw_calls: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Parsed and invalid tool calls of an OpenAI-style message, as langchain wants them."""
    valid, invalid = [], []
    for raw in raw_calls:
        try:
            valid.append(parse_tool_call(raw, return_id=True))
        except OutputParserException as exc:
            invalid.append(make_invalid_tool_call(raw, str(exc)))
    return valid, invalid


def _usage(response: dict[str, Any]) -> UsageMetadata | None:
    usage = response.get("usage")
    timings = response.get("timings")
    if usage:
        prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    elif timings:  # streamed chunks carry timings, not usage
        prompt, completion = timings.get("prompt_n", 0), timings.get("predicted_n", 0)
    else:
        return None
    return UsageMetadata(
        input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
    )


def _metadata(response: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any]:
    return {
        "finish_reason": choice.get("finish_reason"),
        "model_name": response.get("model"),
        "timings": response.get("timings", {}),
    }
