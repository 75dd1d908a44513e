"""Switching real model requests on and off, for tests (see `slmguild.serving.gate`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from slmguild.serving import gate


@contextmanager
def model_requests(allowed: bool) -> Iterator[None]:
    """Allow (or block) requests to real models inside the block; restored after it."""
    before = gate.ALLOW_MODEL_REQUESTS
    gate.ALLOW_MODEL_REQUESTS = allowed
    try:
        yield
    finally:
        gate.ALLOW_MODEL_REQUESTS = before
