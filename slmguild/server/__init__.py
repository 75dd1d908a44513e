"""`slmguild serve`: the guild over HTTP — an OpenAI-compatible chat API, session and
expert routes, Prometheus metrics, and a web chat page (extra `[server]`).

    from slmguild.server import create_app
    app = create_app(slmguild.load_guild("guild.yaml"))   # a FastAPI app, for any ASGI server
"""

from slmguild.server.app import create_app

__all__ = ["create_app"]
