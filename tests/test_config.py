"""Guild files: good ones load, broken ones fail with file:line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmguild.config import GuildConfig, ModelSpec, load_config
from slmguild.errors import ConfigError

MINIMAL = """\
name: mini
experts:
  it:
    description: IT things
    system_prompt: You are IT.
"""


def test_example_guild_loads_with_three_experts(example_guild):
    config = load_config(example_guild)
    assert set(config.experts) == {"it", "hr", "finance"}
    for name, expert in config.experts.items():
        exemplars = sum(len(group) for group in expert.exemplar_groups().values())
        assert exemplars >= 15, name
        assert expert.knowledge.sources, name
        for source in expert.knowledge.sources:
            assert len(list(Path(source).glob("*.md"))) >= 8, source


def test_defaults_are_the_embedded_engine_and_the_bundled_model(write_guild):
    config = load_config(write_guild(MINIMAL))
    spec = config.model_for("it")
    assert (spec.backend, spec.name) == ("embedded", "smollm2-135m-instruct")
    assert spec.generation is not None and spec.generation.max_tokens == 256
    assert config.model_for("fallback").backend == "embedded"


def test_expert_model_overrides_merge_over_defaults(write_guild):
    path = write_guild(
        MINIMAL
        + """\
    model:
      adapter: adapters/it.gguf
      generation: {temperature: 0.0}
  hr:
    description: HR things
    system_prompt: You are HR.
    model: {backend: ollama, name: "qwen2.5:0.5b", url: "http://gpu-box:11434"}
defaults:
  name: smollm2-135m-instruct
  generation: {max_tokens: 99}
"""
    )
    config = load_config(path)
    it = config.model_for("it")
    assert it.adapter == str(path.parent / "adapters" / "it.gguf")  # relative to the guild file
    assert it.generation.temperature == 0.0 and it.generation.max_tokens == 99
    hr = config.model_for("hr")
    assert (hr.backend, hr.name, hr.url) == ("ollama", "qwen2.5:0.5b", "http://gpu-box:11434")
    assert hr.generation.max_tokens == 99


def test_model_shorthand_is_a_name_and_gguf_paths_are_relative_to_the_file(write_guild):
    path = write_guild(MINIMAL + "escalation: big-model.gguf\n")
    assert load_config(path).escalation == ModelSpec(name=str(path.parent / "big-model.gguf"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nexperts:\n  it: [unclosed\n", ":4: invalid YAML"),
        (MINIMAL + "    tolls: [a]\n", ":6: experts.it.tolls: Extra inputs are not permitted"),
        (MINIMAL + "    model: {backend: olama}\n", ":6: experts.it.model.backend: Input should be"),
        (MINIMAL.replace("  it:", "  IT Desk:"), ":3: experts.IT Desk"),
        ("name: x\n", ":1: experts: Field required"),
        (MINIMAL.replace("    system_prompt: You are IT.\n", ""), ":3: experts.it.system_prompt: Field required"),
        (MINIMAL + "engine: {n_ctx: 10}\n", ":6: engine.n_ctx: Input should be greater than or equal to 256"),
        ("- just\n- a list\n", "a guild file is a mapping"),
    ],
)
def test_broken_files_name_file_line_and_field(write_guild, text, expected):
    path = write_guild(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="no such guild file .*--guild"):
        load_config(tmp_path / "nope.yaml")


def test_json_schema_describes_the_file():
    schema = GuildConfig.model_json_schema()
    assert {"name", "experts", "defaults", "fallback", "escalation"} <= set(schema["properties"])
    json.dumps(schema)  # serializable for editors
    assert schema["$defs"]["ModelSpec"]["properties"]["backend"]["anyOf"][0]["enum"] == [
        "embedded",
        "ollama",
        "openai",
    ]
