"""YAML files validated by pydantic models, with errors that name file, line and field.

Guild files and scenario files are both read here: parsed with ruamel (which keeps each
key's line), validated, and every problem reported as `file.yaml:12: field.path: message`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from slmguild.errors import SlmguildError

Model = TypeVar("Model", bound=BaseModel)


def read_yaml(path: Path, error: type[SlmguildError], what: str) -> Any:
    """The YAML document in `path` (round-trip types, with line numbers); `error` otherwise.

    `what` names the kind of file in the messages ("guild file", "scenario file").
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the {what}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise error(f"{path}{line}: invalid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:  # e.g. a control character the reader refuses, no mark
        raise error(f"{path}: invalid YAML: {exc}") from None


def validate_yaml(
    model: type[Model], data: Any, path: Path, error: type[SlmguildError], context: dict[str, Any] | None = None
) -> Model:
    """`data` (from `read_yaml`) validated as `model`; `error` lists each problem with its line."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise error(describe_errors(path, data, exc)) from None


def describe_errors(path: Path, data: Any, exc: ValidationError) -> str:
    """One line per validation error, each with the line of the offending key."""
    lines = []
    for problem in exc.errors()[:5]:
        loc = [part for part in problem["loc"] if not _is_union_tag(part)]
        field = ".".join(str(part) for part in loc) or "(top level)"
        lines.append(f"{path}:{line_of(data, loc)}: {field}: {problem['msg']}")
    if len(exc.errors()) > 5:
        lines.append(f"... and {len(exc.errors()) - 5} more")
    return "\n".join(lines)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the union member tried ('list[str]', 'function-before[...]') to locations
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def line_of(data: Any, loc: list[Any]) -> int:
    """The 1-based line of the deepest key of `loc` that exists in the YAML document."""
    line = 1
    node = data
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
            else:
                break
            node = node[part]
        except (AttributeError, KeyError, TypeError):
            break
    return line
