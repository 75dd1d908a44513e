"""The serving model's prompt format, read from its GGUF: chat template and stop tokens.

Training renders conversations with the very template the engine serves with (a
template mismatch is the most common reason a fine-tune behaves differently once
served), and the Ollama Modelfile carries the same format in Ollama's Go-template
syntax.
"""

from __future__ import annotations

from pathlib import Path

from slmguild.errors import ModelUnavailable
from slmguild.serving.gguf_metadata import gguf_field

# Ollama's Go templates for the template families of the catalog's models, recognised
# by their special tokens. Each renders the conversations slmguild sends (a system
# prompt, then turns) as the family's Jinja template does.
_OLLAMA_TEMPLATES = {
    "<|im_start|>": (  # ChatML: SmolLM2, Qwen
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n"
    ),
    "<start_of_turn>": (  # Gemma: the system prompt opens the first user turn
        "{{- $system := \"\" }}{{- range .Messages }}"
        "{{- if eq .Role \"system\" }}{{ $system = .Content }}"
        "{{- else }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}{{ .Role }}{{ end }}\n"
        "{{ if $system }}{{ $system }}\n\n{{ $system = \"\" }}{{ end }}{{ .Content }}<end_of_turn>\n"
        "{{ end }}{{ end }}<start_of_turn>model\n"
    ),
    "<|start_header_id|>": (  # Llama 3
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
        "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
}


def chat_template(gguf_path: Path) -> str:
    """The Jinja chat template the model's GGUF carries (what llama.cpp serves with)."""
    template = gguf_field(gguf_path, "tokenizer.chat_template")
    if not template:
        raise ModelUnavailable(f"{gguf_path} has no chat template (tokenizer.chat_template)")
    return template


def architecture(gguf_path: Path) -> str:
    """llama.cpp's name of the model's architecture (`llama`, `gemma3`, ...)."""
    return gguf_field(gguf_path, "general.architecture")


def hyperparameter(gguf_path: Path, name: str) -> int:
    """An architecture's integer hyperparameter, e.g. `attention.head_count`."""
    return int(gguf_field(gguf_path, f"{architecture(gguf_path)}.{name}"))


def stop_tokens(gguf_path: Path) -> list[str]:
    """The text of the tokens that end an answer (end of sequence, end of turn)."""
    tokens = gguf_field(gguf_path, "tokenizer.ggml.tokens")
    ids = [gguf_field(gguf_path, f"tokenizer.ggml.{key}_token_id") for key in ("eos", "eot")]
    return list(dict.fromkeys(tokens[i] for i in ids if i is not None))


def ollama_template(gguf_path: Path) -> str | None:
    """The model's chat template in Ollama's syntax; None for a family not known here
    (Ollama then derives one from the GGUF's own template)."""
    template = chat_template(gguf_path)
    return next((go for marker, go in _OLLAMA_TEMPLATES.items() if marker in template), None)
