"""Fuzzing the parsers of what users write — guild files, scenario files, datasets,
evaluation data: whatever the input, the answer is the parsed object or a
`SlmguildError` whose message names the file, never another exception.

Inputs are random bytes, random YAML/JSON documents, and valid files with one value
somewhere replaced by a random one (the most realistic mistakes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slmguild.config import load_config
from slmguild.errors import SlmguildError
from slmguild.evaluation.data import read_jsonl
from slmguild.finetune import load_examples
from slmguild.scenarios import load_scenario
from slmguild.yaml_files import read_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "acme"
CASES = 300  # per strategy and parser: 4 parsers x 3 strategies x 300 = 3600 cases
FUZZ = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _plain(data: Any) -> Any:
    """A ruamel document as plain dicts and lists (JSON-serializable)."""
    return json.loads(json.dumps(data, default=str))


def _mutated(valid: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """`valid` with the value at one random path replaced by a random document."""
    data = _plain(valid)
    node = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) or not isinstance(node[key], dict | list):
            node[key] = draw(documents)
            break
        node = node[key]
    return data


def _refuses_cleanly(parse: Callable[[Path], Any], path: Path) -> None:
    try:
        parse(path)
    except SlmguildError as exc:
        assert str(path) in str(exc) or path.name in str(exc), f"the error does not name the file: {exc}"


GUILD = EXAMPLES / "guild.yaml"
SCENARIO = EXAMPLES / "scenarios" / "ticket-status-then-follow-up.scenario.yaml"
PARSERS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "guild": (load_config, "guild.yaml"),
    "scenario": (load_scenario, "case.scenario.yaml"),
    "dataset": (load_examples, "data.jsonl"),
    "eval data": (lambda path: read_jsonl(path, ["question", "expert", "source"]), "questions.jsonl"),
}


def _write(folder: Path, name: str, content: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


@FUZZ
@given(content=st.binary(max_size=400) | st.text(max_size=400))
def test_random_bytes_are_refused_cleanly(tmp_path_factory, content):
    folder = tmp_path_factory.mktemp("fuzz")
    for parse, name in PARSERS.values():
        _refuses_cleanly(parse, _write(folder, name, content))


@FUZZ
@given(document=documents)
def test_random_documents_are_refused_cleanly(tmp_path_factory, document):
    folder = tmp_path_factory.mktemp("fuzz")
    for parse, name in PARSERS.values():
        text = json.dumps(document) if name.endswith(".jsonl") else json.dumps(document, indent=1)
        _refuses_cleanly(parse, _write(folder, name, text))


@FUZZ
@given(data=st.data())
def test_valid_files_with_one_value_changed_are_refused_cleanly(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    guild = _mutated(read_yaml(GUILD, SlmguildError, "guild file"), data.draw)
    _refuses_cleanly(load_config, _write(folder, "guild.yaml", json.dumps(guild, indent=1)))
    scenario = _mutated(read_yaml(SCENARIO, SlmguildError, "scenario file"), data.draw)
    _refuses_cleanly(load_scenario, _write(folder, "case.scenario.yaml", json.dumps(scenario, indent=1)))
    rows = [json.loads(line) for line in (EXAMPLES / "finetune" / "it.jsonl").read_text().splitlines()[:3]]
    lines = [json.dumps(_mutated(row, data.draw)) for row in rows]
    _refuses_cleanly(load_examples, _write(folder, "data.jsonl", "\n".join(lines)))
    questions = [json.loads(line) for line in (EXAMPLES / "retrieval_questions.jsonl").read_text().splitlines()[:3]]
    lines = [json.dumps(_mutated(row, data.draw)) for row in questions]
    _refuses_cleanly(PARSERS["eval data"][0], _write(folder, "questions.jsonl", "\n".join(lines)))
