"""An expert's adapter files, and making a trained adapter the one the expert serves.

Each expert's adapter lives beside the guild file, in `adapters/<expert>/`:

    peft/            the trained PEFT adapter (transformers/peft format)
    checkpoints/     training checkpoints (a stopped run resumes from the last)
    training.json    settings, base, steps, loss, time and memory of the last run
    adapter.gguf     the llama.cpp GGUF LoRA the embedded engine and llama-server load
    Modelfile        for `ollama create`: the exact base, the adapter, template and stops
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmguild.config import GuildConfig, edit_config
from slmguild.finetune.export import export_gguf_lora, write_modelfile
from slmguild.serving.adapters import file_sha256
from slmguild.serving.catalog import gguf_path


@dataclass(frozen=True)
class AdapterFiles:
    """Where one expert's adapter, its checkpoints and its exports are kept."""

    folder: Path

    @classmethod
    def of(cls, guild_file: Path, expert: str) -> AdapterFiles:
        return cls(guild_file.resolve().parent / "adapters" / expert)

    @property
    def peft(self) -> Path:
        return self.folder / "peft"

    @property
    def gguf(self) -> Path:
        return self.folder / "adapter.gguf"

    @property
    def modelfile(self) -> Path:
        return self.folder / "Modelfile"


def serving_base(config: GuildConfig, expert: str) -> Path:
    """The GGUF the expert's model is served from: the base its adapter must fit."""
    return gguf_path(config.model_for(expert).name or "")


def base_hash(base: Path) -> str | None:
    """The SHA-256 that identifies a GGUF base; None for an HF directory, whose GGUF
    conversion (what is served) is not known here."""
    return file_sha256(base) if base.is_file() else None


def export_adapter(files: AdapterFiles, serving: Path, trained_on: Path) -> str | None:
    """Write the GGUF LoRA and the Modelfile; return the hash of the base trained on."""
    trained_hash = base_hash(trained_on)
    export_gguf_lora(files.peft, serving, files.gguf, trained_hash)
    write_modelfile(files.modelfile, serving, files.gguf)
    return trained_hash


def register_adapter(guild_file: Path, expert: str, adapter: str, trained_hash: str | None) -> GuildConfig:
    """Make `adapter` (a GGUF path or a server's adapter name) the expert's, in the guild
    file, with the hash of the base it was trained on; comments and layout are kept."""

    def change(document: Any) -> None:
        member = document["experts"][expert]
        model = member.get("model")
        if not isinstance(model, dict):  # absent, or the `model: NAME` shorthand
            model = {"name": model} if model else {}
            member["model"] = model
        model["adapter"] = adapter
        if trained_hash:
            model["adapter_base"] = trained_hash
        else:
            model.pop("adapter_base", None)

    return edit_config(guild_file, change)
