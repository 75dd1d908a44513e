"""Who is asking: the users of a server, their API keys, and how a request names its user.

Keys live in an SQLite file (`keys.sqlite` in the data directory by default), managed by
`slmguild keys add | list | revoke`. Only a key's SHA-256 is stored: a key is 256 random
bits, so a fast hash is as safe as a slow one and costs microseconds per request. Every
request reads the file, so a revoked key is refused at once, by every process that
serves from it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from slmguild.errors import SlmguildError
from slmguild.paths import home

USER_NAME = re.compile(r"[\w.@+-]{1,64}")  # no '/': a user's sessions are stored as `user/name`
KEY_PREFIX = "slm_"


@dataclass(frozen=True)
class User:
    """The one a request acts for. `name` None: the machine's own user (a server with no
    keys on loopback, or the shared `SLMGUILD_API_KEY`), whose sessions are the CLI's.
    An admin sees and deletes everyone's sessions; nobody acts on another's."""

    name: str | None
    admin: bool = False

    @property
    def label(self) -> str:
        """The user as logs and limits name them."""
        return self.name or "local"


LOCAL = User(None, admin=True)


@dataclass(frozen=True)
class KeyInfo:
    """A key as `slmguild keys list` shows it: never the key itself."""

    id: str
    user: str
    admin: bool
    created: str
    revoked: str | None


class KeyStore:
    """The API keys of a server's users, hashed, in the SQLite file at `path`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or home() / "keys.sqlite"

    def add(self, user: str, *, admin: bool = False) -> str:
        """A new key for `user` (made an admin with `admin`): returned once, stored hashed."""
        if not USER_NAME.fullmatch(user):
            raise SlmguildError(f"a user name is 1-64 letters, digits or . _ @ + - (no '/'): {user!r}")
        key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self._database() as db:
            db.execute("INSERT INTO keys (id, hash, user, admin, created) VALUES (?, ?, ?, ?, ?)",
                       (key_id, _digest(key), user, int(admin), _now()))
        return key

    def keys(self) -> list[KeyInfo]:
        """Every key, oldest first, revoked ones included."""
        with self._database() as db:
            rows = db.execute("SELECT id, user, admin, created, revoked FROM keys ORDER BY rowid").fetchall()
        return [KeyInfo(id_, user, bool(admin), created, revoked) for id_, user, admin, created, revoked in rows]

    def revoke(self, key_or_user: str) -> int:
        """Revoke the key with this id, or every key of this user; how many were revoked."""
        with self._database() as db:
            changed = db.execute("UPDATE keys SET revoked = ? WHERE revoked IS NULL AND (id = ? OR user = ?)",
                                 (_now(), key_or_user, key_or_user)).rowcount
        return changed

    def user_of(self, key: str) -> User | None:
        """The user whose live key `key` is, or None."""
        if not key.startswith(KEY_PREFIX) or not self.path.exists():
            return None
        key_id = key[len(KEY_PREFIX):].split("_", 1)[0]
        with self._database() as db:
            row = db.execute("SELECT hash, user, admin FROM keys WHERE id = ? AND revoked IS NULL",
                             (key_id,)).fetchone()
        # compare_digest: the time taken does not tell how much of a guess was right
        if row is None or not hmac.compare_digest(row[0], _digest(key)):
            return None
        return User(row[1], admin=bool(row[2]))

    def in_use(self) -> bool:
        """Whether the store holds any key, revoked or not: then every request needs one
        (revoking the last key does not open the server)."""
        if not self.path.exists():
            return False
        with self._database() as db:
            return db.execute("SELECT 1 FROM keys LIMIT 1").fetchone() is not None

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=10)) as connection, connection:
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL, user TEXT NOT NULL,"
                    " admin INTEGER NOT NULL, created TEXT NOT NULL, revoked TEXT)"
                )
                yield connection
        except sqlite3.DatabaseError as exc:
            raise SlmguildError(f"cannot use the key store {self.path}: {exc}") from None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
