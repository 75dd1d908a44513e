"""The OpenAI chat completions format: requests in, a guild's turn out as a completion or
as SSE chunks. slmguild's own information rides in an extension field, `slmguild`: the
progress of the turn (routed, retrieved, tool calls) on chunks whose delta is empty, and
the turn's trace on the last chunk (or on the completion).

A turn that stops for approval ends with `finish_reason: "approval_required"` and the
call in `slmguild.pending` (the tool and its arguments); the session's next request
answers it with `"slmguild": {"approve": true}` (or false, or the arguments to run it
with instead).

Sampling fields are the answer's (`Expert.sampling`); what cannot be served faithfully
(the client's own tools, several choices, log-probabilities, penalties) is refused with
a 400 that names the field, never accepted and ignored. docs/server.md says which is which.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from slmguild.agents import Expert, Handoff, Retrieved, ToolCall, ToolResult
from slmguild.knowledge.citations import describe_hit
from slmguild.orchestrator import Done, Escalated, Event, Planned, Reply, Routed, Token
from slmguild.orchestrator.roster import ESCALATION

APPROVAL_REQUIRED = "approval_required"  # not one of OpenAI's reasons: nothing of theirs means "ask the user"


class RequestRefused(Exception):
    """A request the server cannot serve faithfully, or a mistake in one: OpenAI's error
    object, naming the field (`param`) and why (`code`)."""

    def __init__(self, message: str, param: str | None = None, code: str = "unsupported_parameter",
                 status: int = 400) -> None:
        super().__init__(message)
        self.param, self.code, self.status = param, code, status


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


class ResponseFormat(BaseModel):
    """`response_format`: free text, any JSON object, or JSON under the client's schema."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None  # {"name", "schema", "strict", "description"}

    @model_validator(mode="after")
    def _schema_when_json_schema(self) -> ResponseFormat:
        if self.type == "json_schema":
            if self.json_schema is None or not isinstance(self.json_schema.get("name"), str):
                raise ValueError("a json_schema response format needs `json_schema` with its `name`")
            if not isinstance(self.json_schema.get("schema", {}), dict):
                raise ValueError("`json_schema.schema` is a JSON schema object")
        return self

    def for_engine(self) -> dict[str, Any] | None:
        """llama.cpp's (and OpenAI's) request field; None for free text."""
        if self.type == "text":
            return None
        named = self.json_schema or {}
        if self.type == "json_object" or named.get("schema") is None:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": named["name"], "schema": named["schema"]}}


class ChatRequest(BaseModel):
    """A chat completion request. Fields of OpenAI's that a guild serves are read; those
    it cannot serve faithfully are refused by `refused` when set to anything but their
    default; others of no effect on the answer (`stream_options`, `metadata`, `store`,
    `parallel_tool_calls`) are accepted."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    user: StrictStr | None = None
    slmguild: SlmguildOptions | None = None  # set: the request answers a waiting call (its messages are not read)
    # The answer's sampling (`Expert.sampling`).
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: StrictInt | None = None
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    stop: StrictStr | list[StrictStr] | None = Field(None, max_length=4)
    response_format: ResponseFormat | None = None
    # Refused unless left at their defaults (see `refused`).
    n: StrictInt = Field(1, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None

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

    def refused(self) -> RequestRefused | None:
        """Why this request cannot be served as asked, if it cannot.

        The client's tools: an expert's model decides only among its own tools, under a
        schema built from them, and runs them itself (allow-list, approvals); deciding
        under a client's schema and handing the call back would be another agent.
        """
        if self.tools or self.functions:
            param = "tools" if self.tools else "functions"
            return RequestRefused(
                f"`{param}` is not supported: each expert calls its own tools (GET /api/experts lists them) "
                "and runs them on the server, with approval for those that change something; send the "
                "request without tools", param)
        if self.tool_choice not in (None, "none", "auto") or self.function_call not in (None, "none", "auto"):
            param = "tool_choice" if self.tool_choice not in (None, "none", "auto") else "function_call"
            return RequestRefused(f"`{param}` can only be \"none\" or \"auto\": clients' tools are not "
                                  "supported", param, "unsupported_value")
        if self.n != 1:
            return RequestRefused("`n` must be 1: a turn has one answer (it may call tools and is saved "
                                  "with its session)", "n", "unsupported_value")
        if self.logprobs or self.top_logprobs:
            param = "logprobs" if self.logprobs else "top_logprobs"
            return RequestRefused(f"`{param}` is not supported: an answer may be checked and rewritten "
                                  "from its documents, so its tokens have no log-probabilities", param)
        for param in ("presence_penalty", "frequency_penalty"):
            if getattr(self, param):
                return RequestRefused(f"`{param}` is not supported: not every backend has it "
                                      "(set `repeat_penalty` in the guild file)", param)
        if self.logit_bias:
            return RequestRefused("`logit_bias` is not supported: token ids differ between the experts' models",
                                  "logit_bias")
        return None

    def sampling(self) -> dict[str, Any]:
        """The options for the answer's generation, in the engine's names; only those set."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        options = {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed,
                   "max_tokens": self.max_completion_tokens or self.max_tokens, "stop": stop or None,
                   "response_format": self.response_format.for_engine() if self.response_format else None}
        return {key: value for key, value in options.items() if value is not None}

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


def structured_output_refused(expert: Expert | None, fallback: str) -> RequestRefused | None:
    """Why JSON output cannot be promised for a request to `expert` (None: routed), if so.

    Only a model's own generation can be constrained: a checked answer is made from its
    documents by slmguild, and a routed request may be split among experts or escalated."""
    if expert is None:
        return RequestRefused(
            "`response_format` needs one expert: send the request to '<guild>/<expert>' (a routed request "
            f"may be split among experts, whose answers are joined, or go to '{fallback}')",
            "response_format", "unsupported_value")
    if expert.grounded is not None:
        return RequestRefused(
            f"`response_format` needs an expert whose answers the model generates: '{expert.name}' "
            "answers with checked sentences from its documents (`answer: strategy: generative` in the "
            "guild file generates them)", "response_format", "unsupported_value")
    return None


def finish_reason(reply: Reply, answer_tokens: int | None) -> str:
    """Why the turn ended: `approval_required` (a call waits), `length` (the answer's
    generation used all of its `answer_tokens`), else `stop`."""
    if reply.pending is not None:
        return APPROVAL_REQUIRED
    if answer_tokens is not None and reply.usage.get("output_tokens", 0) >= answer_tokens:
        return "length"
    return "stop"


def answer_tokens(reply: Reply, expert: Expert | None, requested: int | None) -> int | None:
    """The most tokens the reply's answer could be generated with, when the model
    generated it (not for checked, canned or multi-expert answers): the request's
    `max_tokens` as `expert` bounds it."""
    if expert is None or reply.trace.answer is not None or reply.trace.parts or reply.pending is not None:
        return None
    return int(expert.sampling({"max_tokens": requested or 1 << 30})["max_tokens"])


def completion(reply: Reply, model: str, finish: str = "stop") -> dict[str, Any]:
    """A finished turn as a `chat.completion` object."""
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": reply.text, "refusal": None}}],
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


async def sse_chunks(events: AsyncIterator[Event], model: str, on_done: Callable[[Reply], Any] | None = None,
                     finish: Callable[[Reply], str] = lambda reply: "stop") -> AsyncIterator[str]:
    """A turn's events as the `data:` lines of an OpenAI chat completion stream.

    Every chunk has one choice, and the first one's delta has the role, as OpenAI's do.
    Text goes in `choices[0].delta.content`; progress rides in `slmguild` on a chunk whose
    delta is empty (a client that joins deltas adds nothing; one that reads `choices[0]`
    finds it); the last chunk carries the finish reason (`finish(reply)`), the usage and
    the outcome. An error after the stream began is sent as an `error` object, since the
    status line is gone by then. `on_done` sees the finished reply.
    """
    chunk_id, created = _completion_id(), int(time.time())
    role: dict[str, str] = {"role": "assistant"}  # emptied once sent

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
        nonlocal role
        choice = {"index": 0, "delta": {**role, **delta}, "logprobs": None, "finish_reason": finish_reason}
        role = {}
        body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [choice], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False, default=str)}\n\n"

    try:
        async for event in events:
            if isinstance(event, Token):
                yield chunk({"content": event.text})
            elif isinstance(event, Done):
                if on_done is not None:
                    on_done(event.reply)
                yield chunk({}, finish(event.reply), usage=_usage(event.reply.usage), slmguild=outcome(event.reply))
            elif (shown := progress(event)) is not None:
                yield chunk({}, slmguild=shown)
    except Exception as exc:  # noqa: BLE001 — the client must hear of it, in the stream
        yield f"data: {json.dumps(error_body(exc))}\n\n"
    yield "data: [DONE]\n\n"


def error_body(exc: BaseException, kind: str | None = None, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object for `exc`."""
    return {"error": {"message": str(exc), "type": kind or type(exc).__name__, "param": param, "code": code}}


def _usage(usage: dict[str, int]) -> dict[str, int]:
    prompt, completion_tokens = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
