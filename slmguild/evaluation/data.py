"""Evaluation data: JSON lines, one object per line, checked with line-numbered errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmguild.errors import SlmguildError


class EvalDataError(SlmguildError):
    """An evaluation file that cannot be read, or a line without the fields it needs."""


def read_jsonl(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file; each must have the `required` keys."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"{path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalDataError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict) or (missing := [key for key in required if key not in row]):
            fields = ", ".join(required)
            raise EvalDataError(f"{path}:{number}: each line is an object with {fields}"
                                + (f" (missing: {', '.join(missing)})" if isinstance(row, dict) else ""))
        rows.append(row)
    if not rows:
        raise EvalDataError(f"{path}: no rows to evaluate on")
    return rows
