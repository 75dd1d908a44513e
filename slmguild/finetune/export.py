"""From a trained PEFT adapter to what servers load: a GGUF LoRA and an Ollama Modelfile.

llama.cpp's LoRA layout: one `<base tensor name>.lora_a` / `.lora_b` pair per adapted
weight, `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`; the
engine scales each update by alpha / rank, as PEFT does. Tensor names come from the
`gguf` package's map for the base's architecture, so any architecture llama.cpp knows
exports without a table of our own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from slmguild.errors import SlmguildError
from slmguild.finetune.template import (
    architecture,
    hyperparameter,
    ollama_template,
    stop_tokens,
)
from slmguild.serving.adapters import BASE_HASH_KEY

# Architectures whose GGUF conversion permutes the rows of the query and key weights
# (rotary halves interleaved): transformers undoes it when it loads such a GGUF, so an
# adapter trained on those weights must be permuted back to match the served tensors.
_PERMUTED_QK = {"llama"}


class ExportError(SlmguildError):
    """An adapter that cannot be exported for the base it is meant for."""


def export_gguf_lora(peft_dir: Path, base_gguf: Path, out: Path, base_sha256: str | None = None) -> Path:
    """Write the PEFT adapter saved in `peft_dir` as a llama.cpp GGUF LoRA for `base_gguf`.

    `base_sha256`, the hash of the base it was trained on, is recorded in the file so
    that the engine refuses to serve it on any other base.
    """
    import gguf
    from safetensors import safe_open

    config = json.loads((peft_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("use_rslora") or config.get("use_dora"):
        raise ExportError(f"{peft_dir}: rsLoRA and DoRA adapters have no llama.cpp GGUF form")
    arch = architecture(base_gguf)
    arch_id = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}.get(arch)
    if arch_id is None:
        raise ExportError(f"{base_gguf}: the gguf package does not know architecture '{arch}'")
    names = gguf.get_tensor_name_map(arch_id, hyperparameter(base_gguf, "block_count"))
    heads = {"attn_q": hyperparameter(base_gguf, "attention.head_count"),
             "attn_k": hyperparameter(base_gguf, "attention.head_count_kv")}

    writer = gguf.GGUFWriter(out, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    if base_sha256:
        writer.add_string(BASE_HASH_KEY, base_sha256)
    with safe_open(peft_dir / "adapter_model.safetensors", framework="pt") as tensors:
        keys = sorted(key for key in tensors.keys() if ".lora_A." in key)  # noqa: SIM118 - safetensors handle
        if not keys:
            raise ExportError(f"{peft_dir}: the adapter has no LoRA weights")
        for key_a in keys:
            module = key_a.removeprefix("base_model.model.").split(".lora_A.")[0]
            target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
            if target is None:
                raise ExportError(f"{peft_dir}: no {arch} GGUF tensor for '{module}'")
            lora_a = tensors.get_tensor(key_a).float().numpy()
            lora_b = tensors.get_tensor(key_a.replace(".lora_A.", ".lora_B.")).float().numpy()
            kind = target.split(".")[2]  # blk.N.<kind>.weight
            if arch in _PERMUTED_QK and kind in heads:
                lora_b = _permute_rows(lora_b, heads[kind])
            # numpy shapes are ggml's reversed: (rank, n_in) and (n_out, rank), in f16
            # like llama.cpp's converter (half the size of f32, no measurable change).
            writer.add_tensor(f"{target}.lora_a", lora_a.astype(np.float16))
            writer.add_tensor(f"{target}.lora_b", lora_b.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _permute_rows(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order: each head's rotary halves interleaved."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_modelfile(out: Path, base_gguf: Path, adapter: Path) -> Path:
    """An Ollama Modelfile for the adapter on its exact base: FROM the base GGUF, the
    ADAPTER, the base's chat template and stop tokens (`ollama create -f` it)."""
    lines = [
        "# Written by `slmguild finetune`: the adapter on the exact base it was trained on.",
        f"FROM {base_gguf.resolve()}",
        f"ADAPTER {adapter.resolve()}",
    ]
    if (template := ollama_template(base_gguf)) is not None:
        lines.append(f'TEMPLATE """{template}"""')
    lines += [f'PARAMETER stop "{token}"' for token in stop_tokens(base_gguf)]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
