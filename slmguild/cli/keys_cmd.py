"""`slmguild keys`: the API keys of a server's users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from slmguild.errors import SlmguildError

console = Console(highlight=False)
keys = typer.Typer(
    help="API keys of `slmguild serve`'s users: each user's sessions are their own. Keys are stored "
         "hashed; once the store holds a key, every API request needs one.",
    no_args_is_help=True,
)
StoreOption = Annotated[Path | None, typer.Option(
    "--keys", help="The key store  [default: keys.sqlite in the data directory]")]


def _store(path: Path | None):
    from slmguild.server.users import KeyStore  # the [server] extra's module: imported when used

    return KeyStore(path)


@keys.command("add")
def add(
    user: Annotated[str, typer.Argument(help="The user's name (letters, digits, . _ @ + -).")],
    admin: Annotated[bool, typer.Option(help="An admin lists, reads and deletes every user's sessions.")] = False,
    store: StoreOption = None,
) -> None:
    """Make a key for USER and print it: it is shown only this once."""
    key = _store(store).add(user, admin=admin)
    typer.echo(key)
    typer.echo(f"a new key for {user}{' (admin)' if admin else ''}: give it to them; it is not shown again", err=True)


@keys.command("list")
def list_(store: StoreOption = None) -> None:
    """List the keys: id, user, role, when made, when revoked (never the keys)."""
    for info in _store(store).keys():  # noqa: SIM118 - a KeyStore, not a dict
        role = "admin" if info.admin else "user"
        revoked = f"  [red]revoked {info.revoked}[/]" if info.revoked else ""
        console.print(f"{info.id}  {escape(info.user)}  {role}  made {info.created}{revoked}", soft_wrap=True)


@keys.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="A key's id (see `slmguild keys list`), or a user: all their keys.")],
    store: StoreOption = None,
) -> None:
    """Revoke a key, or all of a user's keys: refused from the next request on."""
    count = _store(store).revoke(key)
    if not count:
        raise SlmguildError(f"no live key with id or user '{key}' (see `slmguild keys list`)")
    console.print(f"revoked {count} key{'s' if count > 1 else ''} of {escape(key)}")
