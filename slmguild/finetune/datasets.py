"""Fine-tuning datasets: read, validate, dedupe, split, write; synthesize from documents.

Every format becomes one shape, a conversation (`Example.messages`) with an optional
`split`. Accepted JSON lines:

- chat: `{"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}`
- ShareGPT: `{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}`
- alpaca: `{"instruction": ..., "input": ..., "output": ...}`

A line that is not one of them is an error naming the file, the line and the problem;
nothing is silently dropped except exact duplicates (counted).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from slmguild.errors import SlmguildError

Role = Literal["system", "user", "assistant"]
Split = Literal["train", "eval"]
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


class DatasetError(SlmguildError):
    """A dataset that cannot be used: unreadable, malformed (with its line), or empty."""


class Message(BaseModel):
    role: Role
    content: str = Field(min_length=1)


class Example(BaseModel):
    """One training conversation; it ends with the assistant's answer, the part learned."""

    messages: list[Message] = Field(min_length=2)
    split: Split | None = None

    def key(self) -> str:
        """What makes two examples the same: their text, case and spacing aside."""
        return "\n".join(f"{m.role}:{' '.join(m.content.lower().split())}" for m in self.messages)


def load_examples(path: Path) -> list[Example]:
    """Every example of a JSON-lines file, in any accepted format; `DatasetError` on a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the dataset: {getattr(exc, 'strerror', None) or exc}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(_example(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not JSON: {exc.msg}") from None
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            raise DatasetError(f"{path}:{number}: {_problem(exc)}") from None
    if not examples:
        raise DatasetError(f"{path}: the dataset is empty")
    return examples


def _example(row: Any) -> Example:
    if not isinstance(row, dict):
        raise ValueError("each line must be a JSON object")  # reported with its line, like any bad row  # noqa: TRY004
    split = row.get("split")
    if "messages" in row:
        example = Example.model_validate({"messages": row["messages"], "split": split})
    elif "conversations" in row:
        messages = [{"role": _SHAREGPT_ROLES[turn["from"]], "content": turn["value"]} for turn in row["conversations"]]
        example = Example.model_validate({"messages": messages, "split": split})
    elif "instruction" in row:
        prompt = "\n\n".join(part for part in (row["instruction"], row.get("input") or "") if part)
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": row.get("output", "")}]
        example = Example.model_validate({"messages": messages, "split": split})
    else:
        raise ValueError("unknown format: expected `messages`, `conversations` or `instruction`")
    if example.messages[-1].role != "assistant":
        raise ValueError("the conversation must end with the assistant's answer")
    return example


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    if isinstance(exc, KeyError):
        return f"unknown role or missing field {exc}"
    return str(exc)


def dedupe(examples: Sequence[Example]) -> tuple[list[Example], int]:
    """The examples without exact repeats (first kept), and how many were dropped."""
    seen: set[str] = set()
    unique = []
    for example in examples:
        if example.key() not in seen:
            seen.add(example.key())
            unique.append(example)
    return unique, len(examples) - len(unique)


def assign_splits(examples: list[Example], *, eval_fraction: float = 0.2, seed: int = 0) -> list[Example]:
    """Examples with a split each: their own if they have one, else a seeded random draw."""
    rng = random.Random(seed)
    return [
        example if example.split else example.model_copy(
            update={"split": "eval" if rng.random() < eval_fraction else "train"}
        )
        for example in examples
    ]


def write_examples(path: Path, examples: Iterable[Example]) -> None:
    """Write examples as chat-format JSON lines (atomically: a crash leaves the old file)."""
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as stream:
        for example in examples:
            stream.write(example.model_dump_json(exclude_none=True) + "\n")
    partial.replace(path)


class _Pair(BaseModel):
    question: str = Field(min_length=8, max_length=300)
    answer: str = Field(min_length=2, max_length=400)


class _Pairs(BaseModel):
    pairs: list[_Pair] = Field(min_length=1, max_length=5)


def synthesize(
    teacher: BaseChatModel, passages: Sequence[str], *, per_passage: int = 2
) -> list[Example]:
    """Question-answer pairs about each passage, written by `teacher` under a JSON schema.

    A pair whose answer shares no content word with its passage is dropped: the teacher
    must answer from the document, not from what it believes.
    """
    decide = teacher.with_structured_output(_Pairs, method="json_schema")
    examples = []
    for passage in passages:
        messages = [
            SystemMessage(
                f"Write {per_passage} questions an employee could ask that this passage answers, "
                "each with a short answer taken from the passage."
            ),
            HumanMessage(passage),
        ]
        try:
            result = decide.invoke(messages)
        except (ValidationError, ValueError):
            continue  # a teacher's invalid output costs one passage, not the dataset
        pairs = result.pairs if isinstance(result, _Pairs) else _Pairs.model_validate(result).pairs
        for pair in pairs[:per_passage]:
            if _words(pair.answer) & _words(passage):
                examples.append(Example(messages=[
                    Message(role="user", content=pair.question),
                    Message(role="assistant", content=pair.answer),
                ]))
    return examples


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"\w+", text.lower()) if len(word) > 3 or word.isdigit()}
