"""The FastAPI app that serves a guild: OpenAI-compatible chat, sessions, experts,
health, metrics and the web chat page.

Security defaults: `slmguild serve` binds to loopback; an API key (Bearer) is required
when one is given, and the CLI insists on one for any other address. Bodies are limited
in size; CORS is off unless origins are named.
"""

from __future__ import annotations

import hmac
import logging
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slmguild.errors import SlmguildError, UnknownExpert
from slmguild.orchestrator import Guild
from slmguild.orchestrator.guild import last_reply
from slmguild.orchestrator.trace import TurnTrace
from slmguild.orchestrator.graph import ESCALATION
from slmguild.server.metrics import Metrics
from slmguild.server.openai_chat import ChatRequest, completion, error_body, sse_chunks

log = logging.getLogger("slmguild.server")

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1 << 20  # a chat request is text: 1 MiB is generous


def create_app(
    guild: Guild,
    *,
    api_key: str | None = None,
    cors_origins: list[str] | tuple[str, ...] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The HTTP API and web page of `guild`.

    `api_key`: when set, every route but the page and `/healthz` requires
    `Authorization: Bearer <api_key>`. `cors_origins`: browser origins allowed to call
    the API from other sites (none by default). `max_body_bytes`: larger bodies get 413.
    """
    app = FastAPI(title=f"slmguild: {guild.name}", version="1", docs_url="/docs", redoc_url=None)
    metrics = Metrics()
    app.state.guild, app.state.metrics = guild, metrics

    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    _count_requests(app, metrics)
    _errors(app)
    authorized = Depends(_bearer(api_key))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (models load on the first turn)."""
        return {"status": "ok", "guild": guild.name}

    @app.get("/metrics", dependencies=[authorized])
    def prometheus() -> Response:
        """Prometheus' text format."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", dependencies=[authorized])
    def models() -> dict[str, Any]:
        """`<guild>` routes each request; `<guild>/<expert>` forces that expert."""
        ids = [guild.name, *(f"{guild.name}/{name}" for name in guild.experts)]
        return {"object": "list",
                "data": [{"id": id_, "object": "model", "created": 0, "owned_by": "slmguild"} for id_ in ids]}

    @app.post("/v1/chat/completions", dependencies=[authorized])
    async def chat(body: ChatRequest, request: Request) -> Any:
        """One turn. The session is the `X-Session-Id` header, else the `user` field;
        with neither, the request stands alone and its earlier messages are the history."""
        expert = _expert_of(guild, body.model)
        session = request.headers.get("x-session-id") or body.user
        if body.slmguild is not None:  # the answer to a waiting call: the turn goes on
            if session is None:
                raise HTTPException(400, "an approval answers a session's waiting call: send its X-Session-Id")
            events = guild.aresume_stream(session, body.slmguild.approve)
        else:
            try:
                question = body.question()
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            options: dict[str, Any] = {"expert": expert, "session": session}
            if session is None:
                options["history"] = body.history()
            events = guild.astream(question, **options)
        if body.stream:
            return StreamingResponse(sse_chunks(events, body.model, on_done=metrics.count_turn),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        reply = await last_reply(events)
        metrics.count_turn(reply)
        return completion(reply, body.model)

    @app.get("/api/experts", dependencies=[authorized])
    def experts() -> dict[str, Any]:
        """The experts: what each is for, its tools, whether it has knowledge."""
        return {"guild": guild.name, "experts": [
            {"name": name, "description": expert.description, "tools": [item.name for item in expert.tools],
             "knowledge": bool(guild.config.experts[name].knowledge.sources)}
            for name, expert in guild.experts.items()
        ]}

    @app.get("/api/schema/trace")
    def trace_schema() -> dict[str, Any]:
        """The JSON schema of a turn's trace (`slmguild.trace` on completions, sessions' turns)."""
        return TurnTrace.model_json_schema()

    @app.get("/api/sessions", dependencies=[authorized])
    def sessions() -> dict[str, Any]:
        """Saved sessions, most recently active first, with their first question."""
        listed = []
        for session_id in guild.sessions():
            traces = guild.session(session_id)["traces"]
            title = traces[0].message if traces else ""
            listed.append({"id": session_id, "title": title[:80], "turns": len(traces)})
        return {"sessions": listed}

    @app.get("/api/sessions/{session_id}", dependencies=[authorized])
    def session(session_id: str) -> dict[str, Any]:
        """A session's turns: question, answer, expert and trace of each."""
        traces = guild.session(session_id)["traces"]
        if not traces:
            raise HTTPException(404, f"no session '{session_id}'")
        return {"id": session_id, "turns": [
            {"message": t.message, "text": t.text, "expert": t.expert,
             "escalated": t.expert == ESCALATION, "trace": t.model_dump(mode="json")}
            for t in traces
        ]}

    @app.delete("/api/sessions/{session_id}", status_code=204, dependencies=[authorized])
    def delete_session(session_id: str) -> Response:
        guild.delete_session(session_id)
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _expert_of(guild: Guild, model: str) -> str | None:
    """None (route) for the guild's name, the expert for `<guild>/<expert>`, else 404."""
    name, _, expert = model.partition("/")
    if name != guild.name or (expert and expert not in guild.experts):
        raise HTTPException(404, f"The model '{model}' does not exist: this server has "
                                 f"'{guild.name}' and '{guild.name}/<expert>' (see /v1/models)")
    return expert or None


def _bearer(api_key: str | None) -> Any:
    """A dependency that checks `Authorization: Bearer <api_key>` (nothing when no key)."""

    def check(request: Request) -> None:
        if api_key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken does not tell how much of a guess was right
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(401, "missing or wrong API key: send Authorization: Bearer <key>")

    return check


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                413: "invalid_request_error"}


def _errors(app: FastAPI) -> None:
    """Every error as OpenAI's error object, with the status OpenAI's clients expect."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        kind = _ERROR_TYPES.get(exc.status_code, "server_error")
        return JSONResponse(error_body(Exception(exc.detail), kind), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:]) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        return JSONResponse(error_body(Exception(problems), "invalid_request_error"), 400)

    @app.exception_handler(UnknownExpert)
    async def unknown(_: Request, exc: UnknownExpert) -> JSONResponse:
        return JSONResponse(error_body(exc, "not_found_error"), 404)

    @app.exception_handler(SlmguildError)
    async def unavailable(_: Request, exc: SlmguildError) -> JSONResponse:
        log.warning("turn failed: %s", exc)
        return JSONResponse(error_body(exc, "server_error"), 503)


def _count_requests(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = route.path if route is not None else "unmatched"
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response


class BodyLimit:
    """Answer 413 to a request whose body is larger than `max_bytes`, declared or sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_bytes:
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
        return f"the request body is larger than {self.max_bytes} bytes"
