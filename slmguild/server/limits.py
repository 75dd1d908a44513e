"""Per-user limits: how many requests a minute (the `limits` library's moving window,
in memory) and how many turns at once; beyond either, 429 with `Retry-After`."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException
from limits import parse, storage, strategies

from slmguild.errors import SlmguildError
from slmguild.server.users import User


class UserLimits:
    """`rate`: requests per user, as the `limits` library writes it ("600/minute"; None:
    no limit). `concurrent_turns`: turns one user may have running at once (None: no limit).
    """

    def __init__(self, rate: str | None = "600/minute", concurrent_turns: int | None = 8) -> None:
        try:
            self.rate = parse(rate) if rate else None
        except ValueError:
            raise SlmguildError(f"not a rate: {rate!r} (write it as 600/minute, 20/second, 10000/day)") from None
        self.concurrent_turns = concurrent_turns
        self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._guard = threading.Lock()
        self._running: dict[str, int] = {}  # user -> turns now; a user with none has no entry

    def count_request(self, user: User) -> None:
        """Count one request of `user`; 429 past the rate."""
        if self.rate is not None and not self._window.hit(self.rate, user.label):
            reset = self._window.get_window_stats(self.rate, user.label).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            raise HTTPException(429, f"too many requests: at most {self.rate} per user; try again in {wait} s",
                                headers={"Retry-After": str(wait)})

    @contextmanager
    def turn(self, user: User) -> Iterator[None]:
        """Hold one of `user`'s turn slots while the block runs; 429 when all are taken."""
        with self._guard:
            running = self._running.get(user.label, 0)
            if self.concurrent_turns is not None and running >= self.concurrent_turns:
                raise HTTPException(429, f"{running} turns of yours are running: at most {self.concurrent_turns} "
                                         "at once; try again when one ends", headers={"Retry-After": "1"})
            self._running[user.label] = running + 1
        try:
            yield
        finally:
            with self._guard:
                left = self._running[user.label] - 1
                if left:
                    self._running[user.label] = left
                else:
                    del self._running[user.label]
