"""Concurrency: crossing between synchronous and asynchronous code, and locks per session.

slmguild runs a turn synchronously (llama.cpp and Qdrant's local mode block anyway);
`relay` gives asyncio callers the same events without blocking their event loop, and
`drive` lets synchronous code consume an async generator (an expert's tool phase).
`KeyedLocks` gives each session a lock of its own for as long as it is in use.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


async def relay(produce: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """The items of `produce()`, iterated in a worker thread, delivered to the event loop
    as they come; an exception in the worker is raised in the caller's task."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    finished = object()

    def work() -> None:
        try:
            for item in produce():
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except BaseException as exc:  # re-raised in the caller's task  # noqa: BLE001
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, finished)

    # The caller's context variables travel with the work (as with asyncio.to_thread): an
    # app's current OpenTelemetry span stays the parent of the turn's spans.
    worker = loop.run_in_executor(None, contextvars.copy_context().run, work)
    while (item := await queue.get()) is not finished:
        if isinstance(item, BaseException):
            raise item
        yield item
    await worker


def drive(events: AsyncGenerator[T, None]) -> Iterator[T]:
    """Run an async generator from synchronous code, one item at a time."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(anext(events))
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(events.aclose())
        loop.close()


class KeyedLocks:
    """A lock per key (a session), kept only while a thread holds or waits for it:
    a server meets an unbounded number of keys, and a table of idle locks would
    grow with each one for as long as the process lives."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key -> (lock, holders and waiters)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold `key`'s lock while the block runs (waiting for it if another thread has it)."""
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[key][1] - 1
                if users:
                    self._locks[key] = (lock, users)
                else:
                    del self._locks[key]

    def __len__(self) -> int:
        """How many keys have a lock now (held or waited for)."""
        return len(self._locks)
