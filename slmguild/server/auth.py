"""Authentication: which `User` a request acts for, or 401.

In order: a trusted reverse proxy's identity header (when configured), a user's key
from the key store, the shared key (`SLMGUILD_API_KEY`: the machine's own user, an
admin). With none of these configured the server is open, and only on loopback: every
request is the machine's own user, as in the CLI.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from slmguild.server.edge import header_text
from slmguild.server.users import LOCAL, USER_NAME, KeyStore, User


class Authenticator:
    """A FastAPI dependency: the request's `User`.

    `keys`: the users' key store (used when it holds keys). `api_key`: one shared key for
    the machine's own user. `user_header`: the header a reverse proxy sets to the name of
    the user it authenticated — only for a server that nothing but that proxy can reach,
    since anyone else could set it too.
    """

    def __init__(self, *, keys: KeyStore | None = None, api_key: str | None = None,
                 user_header: str | None = None) -> None:
        self.keys, self.api_key, self.user_header = keys, api_key, user_header

    def __call__(self, request: Request) -> User:
        if self.user_header is not None:
            name = header_text(request.headers.get(self.user_header, ""))
            if not USER_NAME.fullmatch(name):
                raise HTTPException(401, f"no valid user in the {self.user_header} header (set by the proxy)")
            return User(name)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        bearer = given if scheme.lower() == "bearer" and given else None
        # A user's key first: a request with a live key reads the store once.
        if bearer and self.keys is not None and (user := self.keys.user_of(bearer)) is not None:
            return user
        # compare_digest: the time taken does not tell how much of a guess was right
        if bearer and self.api_key is not None and hmac.compare_digest(bearer.encode(), self.api_key.encode()):
            return LOCAL
        if self.api_key is None and not (self.keys is not None and self.keys.in_use()):
            return LOCAL  # nothing configured: the machine's own user, as in the CLI
        raise HTTPException(401, "missing, wrong or revoked API key: send Authorization: Bearer <key>")

