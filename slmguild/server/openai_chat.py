"""The OpenAI chat completions format: requests in, a guild's turn out as a completion or
as SSE chunks. slmguild's own information rides in an extension field, `slmguild`: the
progress of the turn (routed, retrieved, tool calls) as chunks without choices, and the
turn's trace on the last chunk (or on the completion).

A turn that stops for approval says so in that field (`pending`: the tool and its
arguments); the session's next request answers it with `"slmguild": {"approve": true}`
(or false, or the arguments to run it with instead)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from slmguild.agents import Handoff, Retrieved, ToolCall, ToolResult
from slmguild.knowledge.citations import describe_hit
from slmguild.orchestrator import Done, Escalated, Event, Planned, Reply, Routed, Token
from slmguild.orchestrator.graph import ESCALATION


class ContentPart(BaseModel):
    """A part of a message's content: a text part's `text` is read; other parts (images,
    audio) are accepted and not read."""

    model_config = ConfigDict(extra="allow")

    type: StrictStr
    text: StrictStr | None = None

    @model_validator(mode="after")
    def _text_part_has_text(self) -> ContentPart:
        if self.type == "text" and self.text is None:
            raise ValueError("a text part needs its text, as a string")
        return self


class ChatMessage(BaseModel):
    """One message of the conversation; content parts are joined as text."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class SlmguildOptions(BaseModel):
    """The request's own extension field: the answer to the call a session's turn waits on."""

    model_config = ConfigDict(extra="forbid")

    approve: StrictBool | dict[str, Any] = Field(
        description="true runs the waiting call, false refuses it, an object runs it with these arguments"
    )


class ChatRequest(BaseModel):
    """The fields of a chat completion request that a guild uses; others are accepted
    and ignored (sampling is the guild file's business, per expert)."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    user: StrictStr | None = None
    slmguild: SlmguildOptions | None = None  # set: the request answers a waiting call (its messages are not read)

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        """JSON may escape half of a UTF-16 pair ("\\ud800"): no text store can keep it."""
        if _has_lone_surrogate(data):
            raise ValueError("the body holds a lone UTF-16 surrogate (an \\ud800-\\udfff escape without its pair)")
        return data

    def question(self) -> str:
        """The text of the last message, which must be the user's."""
        last = self.messages[-1]
        if last.role != "user":
            raise ValueError("the last message must be the user's")
        if not last.text().strip():
            raise ValueError("the last message is empty: ask a question")
        return last.text()

    def history(self) -> list[BaseMessage]:
        """The conversation before the question (user and assistant turns; the expert
        brings its own system prompt)."""
        kinds = {"user": HumanMessage, "assistant": AIMessage}
        return [kinds[m.role](m.text()) for m in self.messages[:-1] if m.role in kinds]


def _has_lone_surrogate(data: Any) -> bool:
    if isinstance(data, str):
        return not data.isascii() and any("\ud800" <= char <= "\udfff" for char in data)
    if isinstance(data, dict):
        return any(_has_lone_surrogate(key) or _has_lone_surrogate(value) for key, value in data.items())
    if isinstance(data, list):
        return any(_has_lone_surrogate(item) for item in data)
    return False


def completion(reply: Reply, model: str) -> dict[str, Any]:
    """A finished turn as a `chat.completion` object."""
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": _usage(reply.usage),
        "slmguild": outcome(reply),
    }


def outcome(reply: Reply) -> dict[str, Any]:
    """Who answered and why: the `slmguild` field of a completion and of the last chunk."""
    data = reply.as_json()
    return {"event": "done", "escalated": reply.expert == ESCALATION,
            **{key: data[key] for key in ("expert", "model", "session", "pending", "sources", "trace")}}


def progress(event: Event) -> dict[str, Any] | None:
    """The `slmguild` field for an event that is not answer text (None for text and Done)."""
    match event:
        case Routed():
            return {"event": "routed", **asdict(event)}
        case Escalated():
            return {"event": "escalated", **asdict(event)}
        case Planned():
            return {"event": "planned", "parts": [list(part) for part in event.parts]}
        case Handoff():
            return {"event": "handoff", **asdict(event)}
        case Retrieved():
            return {"event": "retrieved", "expert": event.expert, "sources": [describe_hit(h) for h in event.hits]}
        case ToolCall():
            return {"event": "tool_call", **asdict(event)}
        case ToolResult():
            return {"event": "tool_result", "expert": event.expert, "approval": event.approval,
                    **asdict(event.observation)}
    return None


async def sse_chunks(events: AsyncIterator[Event], model: str, on_done: Any = None) -> AsyncIterator[str]:
    """A turn's events as the `data:` lines of an OpenAI chat completion stream.

    Text goes in `choices[0].delta.content`; progress in chunks with no choices (clients
    skip those, as they skip usage chunks); the last chunk carries the finish reason,
    the usage and the outcome. An error after the stream began is sent as an `error`
    object, since the status line is gone by then. `on_done` sees the finished reply.
    """
    chunk_id, created = _completion_id(), int(time.time())

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": choices, **extra}
        return f"data: {json.dumps(body, ensure_ascii=False, default=str)}\n\n"

    try:
        async for event in events:
            if isinstance(event, Token):
                yield chunk([{"index": 0, "delta": {"content": event.text}, "finish_reason": None}])
            elif isinstance(event, Done):
                if on_done is not None:
                    on_done(event.reply)
                yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}],
                            usage=_usage(event.reply.usage), slmguild=outcome(event.reply))
            elif (shown := progress(event)) is not None:
                yield chunk([], slmguild=shown)
    except Exception as exc:  # noqa: BLE001 — the client must hear of it, in the stream
        yield f"data: {json.dumps(error_body(exc))}\n\n"
    yield "data: [DONE]\n\n"


def error_body(exc: BaseException, kind: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object for `exc`."""
    return {"error": {"message": str(exc), "type": kind or type(exc).__name__, "param": None, "code": code}}


def _usage(usage: dict[str, int]) -> dict[str, int]:
    prompt, completion_tokens = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
