"""What the server checks before a request reaches a route: its size, its session id,
its content type; and the headers every response carries.

Every refusal is a 4xx in OpenAI's error shape: a client mistake is never reported as
the server's (OpenAI's clients retry 5xx answers).
"""

from __future__ import annotations

import re

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slmguild.server.openai_chat import error_body

SESSION_ID = re.compile(r"[\w.:@+-]{1,128}")  # letters of any script; no '/' (ids are path segments)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")

# The page loads only its own script and style and talks only to this server; it is never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def header_text(value: str) -> str:
    """A header as the client wrote it: HTTP servers decode header bytes as Latin-1, so
    UTF-8 text would otherwise name something else than the same text in a JSON body.
    Bytes that are not UTF-8 become U+FFFD, which no name check accepts."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "\ufffd"


def session_of(request: Request, user_field: str | None) -> str | None:
    """The request's session id: the `X-Session-Id` header, else the body's `user`; 400
    for an id that is not 1-128 letters, digits or . _ : @ + -."""
    header = request.headers.get("x-session-id")
    session = header_text(header) if header is not None else user_field
    if session is not None and not SESSION_ID.fullmatch(session):
        shown = session[:40] + ("..." if len(session) > 40 else "")
        raise HTTPException(400, f"invalid session id {shown!r}: use 1-128 letters, digits or . _ : @ + -")
    return session


def require_json(request: Request) -> None:
    """A dependency: 415 unless the body is declared as JSON."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, "send the body as JSON, with Content-Type: application/json")


class SecurityHeaders:
    """Add `SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """Answer 413 to a request whose body is larger than `max_bytes`, declared or sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = JSONResponse(error_body(Exception(self._message()), "invalid_request_error"), 413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a chunked body that did not declare its size
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes (or declares no valid size)"
