"""Crossing between synchronous and asynchronous code, in both directions.

slmguild runs a turn synchronously (llama.cpp and Qdrant's local mode block anyway);
`relay` gives asyncio callers the same events without blocking their event loop, and
`drive` lets synchronous code consume an async generator (an expert's tool phase).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
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
        except BaseException as exc:  # re-raised in the caller's task
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, finished)

    worker = loop.run_in_executor(None, work)
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
