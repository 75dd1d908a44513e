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
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs keys.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    keys: Annotated[Path | None, typer.Option(
        help="The users' key store (made by `slmguild keys add`); once it holds a key, every API request "
             "needs one  [default: keys.sqlite in the data directory]")] = None,
    api_key_env: Annotated[str, typer.Option(
        help="Environment variable holding one shared key (the machine's own user, an admin), "
             "sent as `Authorization: Bearer KEY`.")] = "SLMGUILD_API_KEY",
    user_header: Annotated[str | None, typer.Option(
        help="Take the user's name from this header, set by a reverse proxy that authenticated them "
             "(e.g. X-Forwarded-User). Only where nothing but that proxy can reach the server.")] = None,
    trusted_host: Annotated[list[str], typer.Option(
        help="A Host name clients use to reach the server (repeat for several; '*' for any). Default: "
             "the loopback names on loopback, any name elsewhere.")]
    = [],  # noqa: B006 (typer reads the default, never mutates it)
    cors_origin: Annotated[list[str], typer.Option(
        help="A browser origin allowed to call the API from another site (repeat for several). Off by default.")]
    = [],  # noqa: B006
    max_body_kb: Annotated[int, typer.Option(help="Larger request bodies get 413.")] = 1024,
    rate: Annotated[str, typer.Option(help="Requests per user, e.g. 600/minute or 20/second ('' for no limit).")]
    = "600/minute",
    concurrent_turns: Annotated[int, typer.Option(help="Turns one user may have running at once (0: no limit).")]
    = 8,
) -> None:
    """Serve the guild: an OpenAI-compatible API at /v1 and a web chat page at /.

    Model `<guild>` lets the router choose; `<guild>/<expert>` forces an expert.

    The session comes from the `X-Session-Id` header or the request's `user` field; it
    belongs to the user whose key started it.

    Each turn's trace rides in the `slmguild` field of the response (and of the last streamed chunk).

    Also: /api/experts, /api/sessions, /healthz, /metrics (Prometheus). See docs/server.md
    for users, keys and deploying behind a proxy.
    """
    uvicorn = require("uvicorn", "server")
    from slmguild.server import create_app
    from slmguild.server.edge import LOOPBACK_HOSTS
    from slmguild.server.limits import UserLimits
    from slmguild.server.users import KeyStore

    api_key = os.environ.get(api_key_env) or None
    store = KeyStore(keys)
    loopback = _is_loopback(host)
    if not (loopback or api_key or user_header or store.in_use()):
        raise ConfigError(
            f"serving on {host} lets other machines in: add users' keys (`slmguild keys add NAME`), set a "
            f"shared key in ${api_key_env}, or serve on 127.0.0.1"
        )
    hosts = trusted_host or (list(LOOPBACK_HOSTS) if loopback else ["*"])
    limits = UserLimits(rate or None, concurrent_turns or None)
    app = create_app(load_guild(guild), api_key=api_key, keys=store, user_header=user_header,
                     trusted_hosts=hosts, cors_origins=cors_origin, max_body_bytes=max_body_kb * 1024, limits=limits)
    required = "users' keys" if store.in_use() else "the shared key" if api_key else None
    typer.echo(f"serving {guild} at http://{host}:{port}/ (API: http://{host}:{port}/v1)"
               + (f"; {required} required" if required else "")
               + (f"; users named by the proxy's {user_header} header" if user_header else ""))
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False
