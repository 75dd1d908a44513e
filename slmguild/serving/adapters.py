"""Which base an adapter belongs to: a LoRA only works on the exact weights it was trained on.

`slmguild finetune` records the SHA-256 of the base GGUF in the adapter file
(`slmguild.base.sha256`) and in the guild file (`model.adapter_base`). An adapter whose
recorded base differs from the base it would be served on is refused: llama.cpp would
load it without complaint (the shapes match) and answer with subtly broken weights.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from slmguild.errors import ModelUnavailable
from slmguild.serving.gguf_metadata import gguf_field

BASE_HASH_KEY = "slmguild.base.sha256"


class AdapterMismatch(ModelUnavailable):
    """An adapter trained on another base than the one it would be served on."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, hex; computed once per (path, size, modification time)."""
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def recorded_base(adapter: Path) -> str | None:
    """The base hash an adapter GGUF carries, None for adapters made by other tools."""
    return gguf_field(adapter, BASE_HASH_KEY)


def check_adapter_base(adapter: Path, base: Path, expected: str | None = None) -> None:
    """Refuse `adapter` on `base` if it, or the guild file (`expected`), names another base."""
    recorded = {value for value in (expected, recorded_base(adapter)) if value}
    if not recorded:
        return
    actual = file_sha256(base)
    if any(value != actual for value in recorded):
        trained_on = ", ".join(sorted(value[:12] for value in recorded))
        raise AdapterMismatch(
            f"adapter {adapter} was trained on another base (sha256 {trained_on}…) than "
            f"{base.name} (sha256 {actual[:12]}…): serve it on the base it was trained on, "
            "or train it again on this one (`slmguild finetune train`)"
        )
