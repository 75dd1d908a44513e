"""The `slmguild` command: a thin skin over the library (parse, call, render)."""

from __future__ import annotations

from slmguild.cli.app import app


def main() -> None:
    """Entry point of the `slmguild` console script."""
    app()


__all__ = ["app", "main"]
