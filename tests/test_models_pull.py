"""`slmguild models pull` from a model hub: a local server speaks the hub's protocol (set as
`HF_ENDPOINT`), huggingface_hub downloads a real GGUF into its cache, and the same name then
resolves to that file with no network."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter
from typer.testing import CliRunner

from slmguild.cli import app, models_cmd
from slmguild.config import load_config
from slmguild.errors import ModelUnavailable
from slmguild.serving import catalog
from tests.hub_server import COMMIT, HubLikeServer

runner = CliRunner()
TINY = "hf.co/tiny-org/Tiny-GGUF:tiny-Q4_K_M.gguf"


def tiny_gguf(path: Path, name: str) -> bytes:
    """A small but real GGUF file (metadata and one tensor); its bytes."""
    writer = GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(64)
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, online: huggingface_hub reads its settings once, at import,
    so its constants are set here; slmguild reads `HF_HUB_OFFLINE` at every pull too."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return cache


@pytest.fixture
def files(tmp_path) -> dict[str, bytes]:
    return {
        "tiny-Q4_K_M.gguf": tiny_gguf(tmp_path / "q4.gguf", "tiny q4"),
        "tiny-Q8_0.gguf": tiny_gguf(tmp_path / "q8.gguf", "tiny q8"),
        "mmproj-tiny-Q8_0.gguf": b"GGUF not a chat model",
        "README.md": b"# Tiny\n",
    }


@pytest.fixture
def hub(hub_cache, files, monkeypatch) -> HubLikeServer:
    """The local hub, named by `HF_ENDPOINT`."""
    repos = {"tiny-org/Tiny-GGUF": files, "Qwen/Qwen2.5-0.5B-Instruct-GGUF": {
        "qwen2.5-0.5b-instruct-q4_k_m.gguf": files["tiny-Q4_K_M.gguf"],
    }}
    with HubLikeServer(repos) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.root)
        yield server


@pytest.fixture
def wide_console(monkeypatch):
    """`models list` draws a table as wide as the terminal; CliRunner has none."""
    monkeypatch.setattr(models_cmd.console, "width", 300)


def snapshot(cache: Path, repo: str, file: str) -> Path:
    """Where huggingface_hub's cache keeps `file` of `repo` at the server's one commit."""
    return cache / f"models--{repo.replace('/', '--')}" / "snapshots" / COMMIT / file


def test_a_hub_file_is_pulled_into_the_cache_and_its_name_resolves_to_it(hub, hub_cache, files, monkeypatch):
    with pytest.raises(ModelUnavailable) as missing:
        catalog.gguf_path(TINY)
    assert str(missing.value) == (
        f"model '{TINY}' is not in the Hugging Face cache ({hub_cache}); pull it with: slmguild models pull {TINY}"
    )
    [path] = catalog.pull(TINY, quiet=True)
    assert path == snapshot(hub_cache, "tiny-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert path.read_bytes() == files["tiny-Q4_K_M.gguf"]
    assert GGUFReader(path).fields["general.name"].contents() == "tiny q4"  # a GGUF, whole
    assert hub.requests == [
        ("HEAD", "/tiny-org/Tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf"),
        ("GET", "/tiny-org/Tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf"),
    ]
    # Resolving never asks the hub, online or not; a second pull checks the version, downloads nothing.
    assert catalog.gguf_path(TINY) == path
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert catalog.gguf_path(TINY) == path
    assert catalog.gguf_path("huggingface.co/tiny-org/Tiny-GGUF:tiny-Q4_K_M.gguf") == path
    assert catalog.gguf_path("hf.co/tiny-org/Tiny-GGUF:Q4_K_M") == path  # by quantization, from the cache
    assert catalog.gguf_path("hf.co/tiny-org/Tiny-GGUF") == path  # Q4_K_M, as `ollama pull` takes
    assert len(hub.requests) == 2
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert catalog.pull(TINY, quiet=True) == [path]
    assert hub.requests[2:] == [("HEAD", "/tiny-org/Tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf")]


def test_a_guild_file_names_a_pulled_model_by_its_hub_name(hub, write_guild):
    [path] = catalog.pull(TINY, quiet=True)
    guild = write_guild(
        "name: mini\n"
        f"defaults: {{name: '{TINY}'}}\n"
        "experts:\n"
        "  it: {description: IT things, system_prompt: You are the IT help desk.}\n"
    )
    name = load_config(guild).model_for("it").name
    assert name == TINY  # ends in .gguf, yet is not taken for a path beside the guild file
    assert catalog.gguf_path(name) == path


def test_a_quantization_tag_picks_its_file_from_the_repository_listing(hub, hub_cache, files):
    [path] = catalog.pull("hf.co/tiny-org/Tiny-GGUF:q8_0", quiet=True)  # the tag's case does not matter
    assert path == snapshot(hub_cache, "tiny-org/Tiny-GGUF", "tiny-Q8_0.gguf")  # not the mmproj file
    assert path.read_bytes() == files["tiny-Q8_0.gguf"]
    assert hub.requests == [
        ("GET", "/api/models/tiny-org/Tiny-GGUF/tree/main"),
        ("HEAD", "/tiny-org/Tiny-GGUF/resolve/main/tiny-Q8_0.gguf"),
        ("GET", "/tiny-org/Tiny-GGUF/resolve/main/tiny-Q8_0.gguf"),
    ]
    with pytest.raises(ModelUnavailable) as none:
        catalog.pull("hf.co/tiny-org/Tiny-GGUF:Q2_K")
    assert str(none.value) == (
        f"tiny-org/Tiny-GGUF has no Q2_K GGUF at {hub.root}; its GGUF files: mmproj-tiny-Q8_0.gguf, "
        "tiny-Q4_K_M.gguf, tiny-Q8_0.gguf. Name one: slmguild models pull hf.co/tiny-org/Tiny-GGUF:FILE.gguf"
    )


def test_offline_mode_pulls_nothing_and_says_how_to_go_online(hub, hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as offline:
        catalog.pull(TINY)
    assert str(offline.value) == (
        f"cannot pull {TINY}: HF_HUB_OFFLINE is set and the file is not in {hub_cache}; unset HF_HUB_OFFLINE "
        "to download it, or name a .gguf file you have by its path"
    )
    with pytest.raises(ModelUnavailable) as by_quant:
        catalog.pull("hf.co/tiny-org/Tiny-GGUF:Q8_0")
    assert str(by_quant.value) == (
        "tiny-org/Tiny-GGUF has no Q8_0 GGUF in the Hugging Face cache (HF_HUB_OFFLINE is set); its GGUF files: "
        "none. Name one: slmguild models pull hf.co/tiny-org/Tiny-GGUF:FILE.gguf"
    )
    assert hub.requests == []
    # The CLI prints it in two lines, exit code 2.
    result = runner.invoke(app, ["models", "pull", TINY])
    assert result.exit_code == 2
    assert "error: cannot pull hf.co/tiny-org/Tiny-GGUF:tiny-Q4_K_M.gguf: HF_HUB_OFFLINE is set" in result.output


def test_an_unknown_file_or_repository_is_a_clear_error(hub):
    with pytest.raises(ModelUnavailable) as no_file:
        catalog.pull("hf.co/tiny-org/Tiny-GGUF:tiny-Q5_K_M.gguf")
    assert str(no_file.value) == (
        f"cannot pull hf.co/tiny-org/Tiny-GGUF:tiny-Q5_K_M.gguf: tiny-org/Tiny-GGUF has no file 'tiny-Q5_K_M.gguf' "
        f"at {hub.root}; see its files at {hub.root}/tiny-org/Tiny-GGUF/tree/main, or name a quantization: "
        "slmguild models pull hf.co/tiny-org/Tiny-GGUF:Q4_K_M"
    )
    with pytest.raises(ModelUnavailable) as no_repo:
        catalog.pull("hf.co/nobody/Nothing-GGUF:x.gguf")
    assert str(no_repo.value) == (
        f"cannot pull hf.co/nobody/Nothing-GGUF:x.gguf: no repository nobody/Nothing-GGUF at {hub.root} (or it is "
        "private: log in with `hf auth login` or set HF_TOKEN); check the OWNER/REPO spelling"
    )
    with pytest.raises(ModelUnavailable, match="^'hf.co/just-a-name' is not a hub model name: write hf.co/OWNER"):
        catalog.pull("hf.co/just-a-name")


def test_an_unreachable_hub_is_a_clear_error(hub_cache, monkeypatch):
    import huggingface_hub.utils._http as hub_http

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    # huggingface_hub retries a refused connection 5 times with backoff (~23 s): skip the waits.
    monkeypatch.setattr(hub_http, "time", SimpleNamespace(sleep=lambda seconds: None))
    with pytest.raises(ModelUnavailable) as unreachable:
        catalog.pull(TINY)
    assert str(unreachable.value) == (
        f"cannot pull {TINY}: could not reach {endpoint} (ConnectError: [Errno 111] Connection refused); check "
        "your network, or set HF_ENDPOINT to a reachable mirror, or HF_HUB_OFFLINE=1 to use only cached files"
    )


def test_recommended_hub_models_are_pulled_by_their_catalog_name(hub, hub_cache, files):
    entry = catalog.CATALOG["qwen2.5-0.5b-instruct"]
    assert entry.needs_network and entry.kind == "chat" and entry.files == ()
    assert entry.hub_file.reference == "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf"
    with pytest.raises(ModelUnavailable) as missing:
        catalog.gguf_path("qwen2.5-0.5b-instruct")
    assert str(missing.value) == (
        "model 'qwen2.5-0.5b-instruct' is not in the Hugging Face cache; pull it (needs the network) with: "
        "slmguild models pull qwen2.5-0.5b-instruct"
    )
    assert catalog.installed()["qwen2.5-0.5b-instruct"] is None
    [path] = catalog.pull("qwen2.5-0.5b-instruct", quiet=True)
    assert path == snapshot(hub_cache, "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf")
    assert path.read_bytes() == files["tiny-Q4_K_M.gguf"]
    assert catalog.gguf_path("qwen2.5-0.5b-instruct") == path
    assert catalog.gguf_path(entry.hub_file.reference) == path  # the hub name finds the same file
    assert catalog.installed()["qwen2.5-0.5b-instruct"] == path
    assert catalog.ollama_tag("qwen2.5-0.5b-instruct") == "qwen2.5:0.5b"


def test_the_catalog_keeps_the_offline_default_and_marks_hub_models(hub_cache, wide_console):
    from slmguild.config import DEFAULT_MODEL

    hub_models = [name for name, entry in catalog.CATALOG.items() if entry.needs_network]
    assert hub_models == [
        "smollm2-360m-instruct", "qwen2.5-0.5b-instruct", "llama-3.2-1b-instruct", "gemma-3-1b-it",
        "qwen2.5-1.5b-instruct", "llama-3.2-3b-instruct", "phi-3.5-mini-instruct", "qwen3-4b-instruct-2507",
    ]
    assert DEFAULT_MODEL == "smollm2-135m-instruct" and not catalog.CATALOG[DEFAULT_MODEL].needs_network
    for name in hub_models:
        entry = catalog.CATALOG[name]
        assert entry.kind == "chat" and entry.hub_file.filename.endswith(".gguf") and entry.ollama_tag
    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0, listing.output
    rows = {line.split("│")[1].strip(): line for line in listing.stdout.splitlines() if line.count("│") > 2}
    for name in hub_models:
        assert "hub: needs network" in rows[name] and f"slmguild models pull {name}" in rows[name]
    assert "wheel (PyPI)" in rows[DEFAULT_MODEL] and "wheel (PyPI)" in rows["all-minilm-l6-v2-q8"]


def test_the_cli_pulls_a_hub_file_and_says_how_a_guild_names_it(hub, hub_cache, tmp_path, wide_console):
    result = runner.invoke(app, ["models", "pull", "hf.co/tiny-org/Tiny-GGUF:Q4_K_M"])
    assert result.exit_code == 0, result.output
    cached = snapshot(hub_cache, "tiny-org/Tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert result.stdout.splitlines() == [
        f"hf.co/tiny-org/Tiny-GGUF:Q4_K_M: {cached}",
        f"  in guild.yaml: model: {{name: {TINY}}}",
    ]
    path = runner.invoke(app, ["models", "path", TINY])
    assert path.stdout.strip() == str(cached)
    # --dir: the file goes where asked, and a guild names it by that path.
    into = tmp_path / "models"
    result = runner.invoke(app, ["models", "pull", "--dir", str(into), TINY])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{TINY}: {into / 'tiny-Q4_K_M.gguf'}",
        f"  in guild.yaml: model: {{name: {into / 'tiny-Q4_K_M.gguf'}}}",
    ]
    assert (into / "tiny-Q4_K_M.gguf").read_bytes() == cached.read_bytes()
    wheel_model = runner.invoke(app, ["models", "pull", "--dir", str(into), "smollm2-135m-instruct"])
    assert wheel_model.exit_code == 2 and "smollm2-135m-instruct is not a hub model" in wheel_model.output
