"""GGUF files pulled from a model hub: Hugging Face or any server that speaks its API.

A hub model is named the way `ollama pull` names it: `hf.co/OWNER/REPO:FILE.gguf`
(one file of the repository), `hf.co/OWNER/REPO:QUANT` (the GGUF whose name carries that
quantization, e.g. `Q4_K_M`) or `hf.co/OWNER/REPO` (its `Q4_K_M` file). `huggingface_hub`
downloads it into its own cache (shared with every other tool that uses it) or into a
directory of your choice, with its progress bar; the same name then resolves to the cached
file with no network, so a guild file can say `name: hf.co/OWNER/REPO:FILE.gguf`.

Hub settings are huggingface_hub's: `HF_ENDPOINT` (a mirror), `HF_HUB_OFFLINE` (cached
files only), `HF_HUB_CACHE`/`HF_HOME` (the cache), `HF_TOKEN` (gated repositories).
`HF_ENDPOINT` and `HF_HUB_OFFLINE` are read when a model is pulled, not only when
huggingface_hub is first imported, so a program may set them at any time.

Nothing here downloads at run time: resolving a name only looks in the cache, and a model
that is not there is an error that prints the `slmguild models pull` command.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmguild.errors import ModelUnavailable

log = logging.getLogger("slmguild.serving")
# huggingface_hub is imported inside the functions that use it: it brings an HTTP client
# that a guild with no hub model never needs, and `slmguild` starts faster without it.

HUB_PREFIXES = ("hf.co/", "huggingface.co/")
DEFAULT_QUANT = "Q4_K_M"  # what `ollama pull hf.co/...` takes when no tag is given
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class HubReference:
    """One GGUF file of a hub repository: named exactly (`file`) or by quantization (`quant`)."""

    repo: str
    file: str | None = None
    quant: str | None = None

    def __str__(self) -> str:
        return f"hf.co/{self.repo}:{self.file or self.quant}"


def is_hub_reference(name: str) -> bool:
    """Whether a model name points at a hub (`hf.co/...`) rather than the catalog or a path."""
    return name.startswith(HUB_PREFIXES)


def parse_reference(name: str) -> HubReference:
    """`hf.co/OWNER/REPO[:FILE.gguf|:QUANT]` as a `HubReference`; `ModelUnavailable` if malformed."""
    rest = name.split("/", 1)[1] if is_hub_reference(name) else name
    repo, _, tag = rest.partition(":")
    if not _REPO.match(repo):
        raise ModelUnavailable(
            f"'{name}' is not a hub model name: write hf.co/OWNER/REPO:FILE.gguf or hf.co/OWNER/REPO:QUANT "
            "(e.g. hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf)"
        )
    if tag.lower().endswith(".gguf"):
        return HubReference(repo, file=tag)
    return HubReference(repo, quant=tag or DEFAULT_QUANT)


def cached_gguf(ref: HubReference) -> Path | None:
    """The file `ref` names in the hub cache, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    if ref.file is not None:
        found = try_to_load_from_cache(ref.repo, ref.file, cache_dir=_cache_dir())
        return Path(found) if isinstance(found, str) else None  # else None or "known to be absent"
    matches = _matching_quant(_cached_files(ref.repo), ref.quant or DEFAULT_QUANT)
    return matches[0][1] if len(matches) == 1 else None


def gguf_for(name: str) -> Path:
    """The cached file of hub model `name`; `ModelUnavailable` says how to pull it."""
    ref = parse_reference(name)
    path = cached_gguf(ref)
    if path is None:
        raise ModelUnavailable(
            f"model '{name}' is not in the Hugging Face cache ({_cache_dir()}); "
            f"pull it with: slmguild models pull {name}"
        )
    return path


def pull_gguf(ref: HubReference, *, directory: Path | None = None, quiet: bool = False) -> Path:
    """Download the file `ref` names into the hub cache (or `directory`); return its path.

    A file already there is not downloaded again (huggingface_hub compares its ETag, or
    takes the cached copy as is in offline mode). Errors say what failed and how to fix it.
    """
    from huggingface_hub import hf_hub_download

    where = str(directory) if directory else _cache_dir()
    filename = ref.file or _file_for_quant(ref)
    options: dict[str, Any] = {"endpoint": _endpoint(), "local_files_only": _offline()}
    if quiet:
        options["tqdm_class"] = _silent_progress()
    if directory is not None:
        options["local_dir"] = directory
    log.info("pulling %s from %s into %s", HubReference(ref.repo, file=filename), options["endpoint"], where)
    try:
        return Path(hf_hub_download(ref.repo, filename, **options))
    except _hub_errors() as exc:
        raise _pull_error(exc, HubReference(ref.repo, file=filename), where) from exc


def _file_for_quant(ref: HubReference) -> str:
    """The one GGUF of `ref.repo` whose name carries `ref.quant`: from the cache when
    offline, else from the repository's file list."""
    quant = ref.quant or DEFAULT_QUANT
    if _offline():
        names = [name for name, _ in _cached_files(ref.repo)]
        where = "in the Hugging Face cache (HF_HUB_OFFLINE is set)"
    else:
        try:
            from huggingface_hub import HfApi

            names = HfApi(endpoint=_endpoint()).list_repo_files(ref.repo)
        except _hub_errors() as exc:
            raise _pull_error(exc, ref) from exc
        where = f"at {_endpoint()}"
    matches = _matching_quant([(name, None) for name in names], quant)
    if len(matches) == 1:
        return matches[0][0]
    ggufs = sorted(name for name in names if name.lower().endswith(".gguf"))
    if not matches:
        raise ModelUnavailable(
            f"{ref.repo} has no {quant} GGUF {where}; its GGUF files: {', '.join(ggufs) or 'none'}. "
            f"Name one: slmguild models pull hf.co/{ref.repo}:FILE.gguf"
        )
    raise ModelUnavailable(
        f"{ref.repo} has several {quant} GGUF files {where} ({', '.join(name for name, _ in matches)}); "
        f"name one: slmguild models pull hf.co/{ref.repo}:FILE.gguf"
    )


def _matching_quant(files: list[tuple[str, Any]], quant: str) -> list[tuple[str, Any]]:
    """The GGUF files whose name holds `quant` as a whole word (Q4_K is not Q4_K_M), leaving
    out multimodal projectors, which are not chat models."""
    word = re.compile(rf"(?<![a-z0-9_]){re.escape(quant.lower())}(?![a-z0-9_])")
    return [
        (name, value) for name, value in files
        if name.lower().endswith(".gguf") and "mmproj" not in name.lower() and word.search(Path(name).name.lower())
    ]


def _cached_files(repo: str) -> list[tuple[str, Path]]:
    """(name, path) of every file cached for `repo` at the revision `main` points to."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    try:
        cache = scan_cache_dir(_cache_dir())
    except CacheNotFound:
        return []
    for cached in cache.repos:
        if cached.repo_id == repo and cached.repo_type == "model":
            for revision in cached.revisions:
                if "main" in revision.refs:
                    return [(file.file_name, file.file_path) for file in revision.files]
    return []


def _endpoint() -> str:
    """`HF_ENDPOINT` as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _offline() -> bool:
    """`HF_HUB_OFFLINE` as it is now, or as huggingface_hub read it at import."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return value in {"1", "ON", "YES", "TRUE"} or constants.is_offline_mode()


def _pull_error(exc: BaseException, ref: HubReference, where: str = "the Hugging Face cache") -> ModelUnavailable:
    """The user's version of a huggingface_hub error: what failed, and how to fix it."""
    from huggingface_hub import errors

    endpoint = _endpoint()
    if _offline():
        return ModelUnavailable(
            f"cannot pull {ref}: HF_HUB_OFFLINE is set and the file is not in {where}; "
            "unset HF_HUB_OFFLINE to download it, or name a .gguf file you have by its path"
        )
    if isinstance(exc, errors.GatedRepoError):
        return ModelUnavailable(
            f"cannot pull {ref}: {ref.repo} is gated at {endpoint}; accept its licence on its page, "
            "then log in (`hf auth login`) or set HF_TOKEN"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return ModelUnavailable(
            f"cannot pull {ref}: no repository {ref.repo} at {endpoint} (or it is private: log in with "
            "`hf auth login` or set HF_TOKEN); check the OWNER/REPO spelling"
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return ModelUnavailable(f"cannot pull {ref}: {ref.repo} has no branch 'main' at {endpoint}")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return ModelUnavailable(
            f"cannot pull {ref}: {ref.repo} has no file '{ref.file}' at {endpoint}; see its files at "
            f"{endpoint}/{ref.repo}/tree/main, or name a quantization: slmguild models pull hf.co/{ref.repo}:"
            f"{DEFAULT_QUANT}"
        )
    # The rest are network failures: connection refused, timeouts, a hub that is down
    # (LocalEntryNotFoundError wraps these when nothing is cached), a proxy in the way.
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return ModelUnavailable(
        f"cannot pull {ref}: could not reach {endpoint} ({type(cause).__name__}: {cause}); check your "
        "network, or set HF_ENDPOINT to a reachable mirror, or HF_HUB_OFFLINE=1 to use only cached files"
    )


def _hub_errors() -> tuple[type[Exception], ...]:
    """What huggingface_hub raises for the hub and the network: OSError subclasses (its own
    errors), and its HTTP client's errors, which it does not always wrap (httpx in
    huggingface_hub 1.x, httpx2 in 2.x: whichever it imported)."""
    client_errors = [module.HTTPError for name in ("httpx2", "httpx") if (module := sys.modules.get(name))]
    return (OSError, *client_errors)


def _silent_progress() -> type:
    """A progress-bar class that shows nothing, for quiet pulls."""
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _cache_dir() -> str:
    """huggingface_hub's cache directory (`HF_HUB_CACHE`, else `$HF_HOME/hub`)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
