"""Metadata of GGUF files (models and adapters), read without loading any weights."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from slmguild.errors import ModelUnavailable


def gguf_field(path: Path, key: str) -> Any:
    """The value of metadata field `key` of a GGUF file, None where it has no such field.

    `ModelUnavailable` for a file that is not GGUF. Readers are kept per (file, size,
    modification time): a file written again is read again.
    """
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelUnavailable(f"{path}: cannot read the GGUF file: {exc.strerror}") from None
    field = _reader(path, stat.st_size, stat.st_mtime_ns).get_field(key)
    return field.contents() if field is not None else None


@functools.cache
def _reader(path: Path, size: int, mtime_ns: int) -> Any:  # a gguf.GGUFReader, imported lazily
    import gguf

    try:
        return gguf.GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{path} is not a readable GGUF file ({exc})") from None
