"""The FastAPI app that serves a guild: OpenAI-compatible chat, sessions, experts,
health, metrics and the web chat page.

Security defaults (the threat model is in docs/server.md): `slmguild serve` binds to
loopback and answers only to loopback Host names; keys are required once any exist (the
CLI insists on them for any other address); a session belongs to the user who started
it; bodies are limited in size and checked at the edge; each user has a request rate and
a number of turns at once; CORS is off unless origins are named.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from slmguild.agents import Expert
from slmguild.errors import NoPendingCall, SlmguildError, UnknownExpert
from slmguild.orchestrator import Event, Guild
from slmguild.orchestrator.events import Reply, areply_of
from slmguild.orchestrator.roster import ESCALATION, FALLBACK
from slmguild.orchestrator.trace import TurnTrace
from slmguild.server.auth import Authenticator
from slmguild.server.edge import LOOPBACK_HOSTS, SESSION_ID, BodyLimit, SecurityHeaders, require_json, session_of
from slmguild.server.limits import UserLimits
from slmguild.server.metrics import Metrics
from slmguild.server.openai_chat import (
    ChatRequest,
    RequestRefused,
    answer_tokens,
    completion,
    error_body,
    finish_reason,
    sse_chunks,
    structured_output_refused,
)
from slmguild.server.openai_embeddings import EmbeddingRequest, embeddings_response
from slmguild.server.users import USER_NAME, KeyStore, User

log = logging.getLogger("slmguild.server")

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1 << 20  # a chat request is text: 1 MiB is generous


def create_app(
    guild: Guild,
    *,
    api_key: str | None = None,
    keys: KeyStore | None = None,
    user_header: str | None = None,
    trusted_hosts: Sequence[str] = LOOPBACK_HOSTS,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
    limits: UserLimits | None = None,
) -> FastAPI:
    """The HTTP API and web page of `guild`.

    Who may call it (see `Authenticator`): `keys`, the users' key store; `api_key`, one
    shared key for the machine's own user; `user_header`, the header a trusted reverse
    proxy names the user in. With none of them, every request is the machine's own user.
    Every route but the page, its files and `/healthz` needs a key when keys are in use.
    `trusted_hosts`: the Host names served (others get 400, which stops DNS rebinding;
    loopback names by default, `["*"]` for any). `cors_origins`: browser origins allowed
    to call the API from other sites (none by default). `max_body_bytes`: larger bodies
    get 413. `limits`: per-user request rate and concurrent turns (429 beyond them).
    """
    app = FastAPI(title=f"slmguild: {guild.name}", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    metrics = Metrics()
    app.state.guild, app.state.metrics = guild, metrics
    limits = limits or UserLimits()

    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(trusted_hosts))
    app.add_middleware(SecurityHeaders)
    _count_requests(app, metrics)
    _errors(app)
    app.state.authenticate = Authenticator(keys=keys, api_key=api_key, user_header=user_header)
    app.state.limits = limits
    authorized = Depends(caller)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (models load on the first turn)."""
        return {"status": "ok", "guild": guild.name}

    @app.get("/metrics", dependencies=[authorized])
    def prometheus() -> Response:
        """Prometheus' text format."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", dependencies=[authorized], include_in_schema=False)
    def openapi() -> dict[str, Any]:
        """The API's OpenAPI schema."""
        return app.openapi()

    @app.get("/v1/models", dependencies=[authorized])
    def models() -> dict[str, Any]:
        """`<guild>` routes each request; `<guild>/<expert>` forces that expert."""
        ids = [guild.name, *(f"{guild.name}/{name}" for name in guild.experts)]
        return {"object": "list",
                "data": [{"id": id_, "object": "model", "created": 0, "owned_by": "slmguild"} for id_ in ids]}

    @app.post("/v1/chat/completions", dependencies=[Depends(require_json)])
    async def chat(body: ChatRequest, request: Request, user: TurnCaller) -> Any:
        """One turn. The session is the `X-Session-Id` header, else the `user` field;
        with neither, the request stands alone and its earlier messages are the history."""
        expert = _expert_of(guild, body.model)
        session = session_of(request, body.user)
        if (refused := body.refused()) is not None:
            raise refused
        sampling = body.sampling()
        if "response_format" in sampling and (
                refused := structured_output_refused(guild.expert(expert) if expert else None, FALLBACK)):
            raise refused
        if body.slmguild is not None:  # the answer to a waiting call: the turn goes on
            if session is None:
                raise HTTPException(400, "an approval answers a session's waiting call: send its X-Session-Id")
            events = guild.aresume_stream(session, body.slmguild.approve, user=user.name)
        else:
            try:
                question = body.question()
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            options: dict[str, Any] = {"expert": expert, "session": session, "user": user.name,
                                       "sampling": sampling}
            if session is None:
                options["history"] = body.history()
            events = guild.astream(question, **options)

        def finish(reply: Reply) -> str:
            return finish_reason(reply, answer_tokens(reply, _answering(guild, reply), sampling.get("max_tokens")))

        if body.stream:
            return StreamingResponse(sse_chunks(await _started(events), body.model, metrics.count_turn, finish),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        reply = await areply_of(events)
        metrics.count_turn(reply)
        return completion(reply, body.model, finish(reply))

    @app.post("/v1/embeddings", dependencies=[Depends(require_json)])
    def embeddings(body: EmbeddingRequest, user: TurnCaller) -> dict[str, Any]:
        """The guild's embedder's vectors of `input` (`model`: the guild's name or the embedder's)."""
        embedder_name = guild.config.knowledge.embedder.name
        if body.model not in (guild.name, embedder_name):
            raise RequestRefused(f"The model '{body.model}' does not exist here: embeddings come from "
                                 f"'{guild.name}' (or by its embedder's name, '{embedder_name}')",
                                 "model", "model_not_found", 404)
        return embeddings_response(body, guild.knowledge.embedder)

    @app.get("/api/experts", dependencies=[authorized])
    def experts() -> dict[str, Any]:
        """The experts: what each is for, its tools, whether it has knowledge."""
        return {"guild": guild.name, "experts": [
            {"name": name, "description": expert.description, "tools": [item.name for item in expert.tools],
             "knowledge": bool(guild.config.experts[name].knowledge.sources)}
            for name, expert in guild.experts.items()
        ]}

    @app.get("/api/schema/trace", dependencies=[authorized])
    def trace_schema() -> dict[str, Any]:
        """The JSON schema of a turn's trace (`slmguild.trace` on completions, sessions' turns)."""
        return TurnTrace.model_json_schema()

    @app.get("/api/sessions")
    def sessions(user: Caller, everyone: Annotated[bool, Query(alias="all")] = False) -> dict[str, Any]:
        """The caller's saved sessions, most recently active first, with their first
        question; `?all=true`: an admin lists everyone's, with their `owner`."""
        if everyone and not user.admin:
            raise HTTPException(404, "only an admin lists everyone's sessions")
        threads = [_owner_and_name(thread) for thread in guild.sessions()]
        owned = threads if everyone else [(owner, name) for owner, name in threads if owner == user.name]
        listed = []
        for owner, name in owned:
            traces = guild.session(name, user=owner)["traces"]
            title = traces[0].message if traces else ""
            listed.append({"id": name, "owner": owner, "title": title[:80], "turns": len(traces)})
        return {"sessions": listed}

    @app.get("/api/sessions/{session_id}")
    def session(session_id: str, user: Caller, owner: str | None = None) -> dict[str, Any]:
        """A session's turns: question, answer, expert and trace of each. `owner`: an
        admin reads another user's session."""
        traces = guild.session(session_id, user=_owner(user, owner, session_id))["traces"]
        if not traces:
            raise HTTPException(404, f"no session '{session_id}'")
        return {"id": session_id, "turns": [
            {"message": t.message, "text": t.text, "expert": t.expert,
             "escalated": t.expert == ESCALATION, "trace": t.model_dump(mode="json")}
            for t in traces
        ]}

    @app.delete("/api/sessions/{session_id}", status_code=204)
    def delete_session(session_id: str, user: Caller, owner: str | None = None) -> Response:
        """Delete a session (`owner`: an admin deletes another user's)."""
        owner = _owner(user, owner, session_id)
        if not guild.session(session_id, user=owner)["traces"]:
            raise HTTPException(404, f"no session '{session_id}'")
        guild.delete_session(session_id, user=owner)
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def caller(request: Request) -> User:
    """A dependency: the request's user (401 without a valid key), its request counted
    against the user's rate (429 beyond it)."""
    user: User = request.app.state.authenticate(request)
    request.app.state.limits.count_request(user)
    return user


def turn_slot(request: Request, user: Annotated[User, Depends(caller)]) -> Iterator[User]:
    """A dependency: the caller, holding one of their turn slots until the response,
    streamed or not, is sent (429 when all are taken)."""
    with request.app.state.limits.turn(user):
        yield user


Caller = Annotated[User, Depends(caller)]
TurnCaller = Annotated[User, Depends(turn_slot)]


def _owner(user: User, owner: str | None, session_id: str) -> str | None:
    """Whose session a request reads or deletes: the caller's own, or for an admin the
    named owner's. Another's session is 404, as if it did not exist."""
    if not SESSION_ID.fullmatch(session_id):
        raise HTTPException(404, "no such session")
    if owner is None or owner == user.name:
        return user.name
    if not user.admin or not USER_NAME.fullmatch(owner):
        raise HTTPException(404, f"no session '{session_id}'")
    return owner


def _owner_and_name(thread: str) -> tuple[str | None, str]:
    """The owner and name of a stored session (`user/name`, or a name of no user)."""
    owner, _, name = thread.rpartition("/")
    return owner or None, name


async def _started(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """`events` with its first event already read: a turn that cannot start (nothing
    waits for approval, the store is unreachable) is an error status, not a stream."""
    first = await anext(events)

    async def replayed() -> AsyncIterator[Event]:
        yield first
        async for event in events:
            yield event

    return replayed()


def _expert_of(guild: Guild, model: str) -> str | None:
    """None (route) for the guild's name, the expert for `<guild>/<expert>`, else 404."""
    name, _, expert = model.partition("/")
    if name != guild.name or (expert and expert not in guild.experts):
        raise RequestRefused(f"The model '{model}' does not exist: this server has "
                             f"'{guild.name}' and '{guild.name}/<expert>' (see /v1/models)",
                             "model", "model_not_found", 404)
    return expert or None


def _answering(guild: Guild, reply: Reply) -> Expert | None:
    """The expert whose model made `reply` (None for a multi-expert answer)."""
    try:
        return guild.expert(reply.expert)
    except SlmguildError:
        return None


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                413: "invalid_request_error", 415: "invalid_request_error", 429: "rate_limit_exceeded"}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _errors(app: FastAPI) -> None:
    """Every error as OpenAI's error object, with the status OpenAI's clients expect."""

    # Starlette's class: FastAPI's is its subclass, and Starlette raises its own (404s, bodies it cannot parse)
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _ERROR_TYPES.get(exc.status_code, "server_error")
        return JSONResponse(error_body(Exception(exc.detail), kind), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:]) or 'body'}: {error['msg']}" for error in errors
        )
        # `param`: the body's field at fault (the message has the whole path, union members' names included)
        param = next((str(error["loc"][1]) for error in errors if len(error["loc"]) > 1), None)
        return JSONResponse(error_body(Exception(problems), "invalid_request_error", "invalid_value", param), 400)

    @app.exception_handler(RequestRefused)
    async def refused(_: Request, exc: RequestRefused) -> JSONResponse:
        return JSONResponse(error_body(exc, "invalid_request_error", exc.code, exc.param), exc.status)

    @app.exception_handler(UnknownExpert)
    async def unknown(_: Request, exc: UnknownExpert) -> JSONResponse:
        return JSONResponse(error_body(exc, "not_found_error"), 404)

    @app.exception_handler(NoPendingCall)
    async def nothing_waits(_: Request, exc: NoPendingCall) -> JSONResponse:
        # 400, not 409: OpenAI's clients retry a 409, and retrying cannot help
        return JSONResponse(error_body(exc, "invalid_request_error", code="no_pending_call"), 400)

    @app.exception_handler(SlmguildError)
    async def unavailable(_: Request, exc: SlmguildError) -> JSONResponse:
        log.warning("turn failed: %s", exc)
        return JSONResponse(error_body(exc, "server_error"), 503)

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(error_body(Exception("internal error: see the server's log"), "server_error"), 500)


def _count_requests(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = route.path if route is not None else "unmatched"
        # Labels from a fixed set: a made-up method or path must not add a series each.
        method = request.method if request.method in HTTP_METHODS else "other"
        metrics.requests.labels(method, path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response
