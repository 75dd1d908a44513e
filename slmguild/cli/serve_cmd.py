"""`slmguild serve`: the guild over HTTP (OpenAI-compatible API, web chat page)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from slmguild.cli.turns import GuildOption
from slmguild.errors import ConfigError, require
from slmguild.orchestrator import load_guild


def serve(
    guild: GuildOption = Path("guild.yaml"),
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs an API key.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the API key that clients send as `Authorization: Bearer KEY`; "
             "when it is set, every API route requires the key.")] = "SLMGUILD_API_KEY",
    cors_origin: Annotated[list[str], typer.Option(
        help="A browser origin allowed to call the API from another site (repeat for several). Off by default.")]
    = [],  # noqa: B006 (typer reads the default, never mutates it)
    max_body_kb: Annotated[int, typer.Option(help="Larger request bodies get 413.")] = 1024,
) -> None:
    """Serve the guild: an OpenAI-compatible API at /v1 and a web chat page at /.

    Model `<guild>` lets the router choose; `<guild>/<expert>` forces an expert.

    The session comes from the `X-Session-Id` header or the request's `user` field.

    Each turn's trace rides in the `slmguild` field of the response (and of the last streamed chunk).

    Also: /api/experts, /api/sessions, /healthz, /metrics (Prometheus).
    """
    uvicorn = require("uvicorn", "server")
    from slmguild.server import create_app

    api_key = os.environ.get(api_key_env) or None
    if api_key is None and not _is_loopback(host):
        raise ConfigError(
            f"serving on {host} lets other machines in: set an API key in ${api_key_env} "
            "(clients send it as Authorization: Bearer KEY), or serve on 127.0.0.1"
        )
    app = create_app(load_guild(guild), api_key=api_key, cors_origins=cors_origin,
                     max_body_bytes=max_body_kb * 1024)
    typer.echo(f"serving {guild} at http://{host}:{port}/ (API: http://{host}:{port}/v1)"
               + ("; API key required" if api_key else ""))
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False
