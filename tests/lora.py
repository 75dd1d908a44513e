"""Write a small random LoRA adapter in llama.cpp's GGUF layout, for serving tests.

Real adapters come from the finetune module; these tests need only one whose effect
is unmistakable: random low-rank updates of every layer's attention query projection.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from slmguild.serving.gguf_metadata import gguf_field


def write_random_lora(path: Path, base: Path, rank: int = 4, magnitude: float = 0.5, seed: int = 0) -> Path:
    """A LoRA GGUF for `base` (a llama-architecture GGUF) that perturbs `attn_q`."""
    n_embd, n_layers = gguf_field(base, "llama.embedding_length"), gguf_field(base, "llama.block_count")
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    for layer in range(n_layers):
        name = f"blk.{layer}.attn_q.weight"
        # numpy shapes are ggml's reversed: lora_a is (rank, n_in), lora_b is (n_out, rank)
        writer.add_tensor(f"{name}.lora_a", rng.normal(0, magnitude, (rank, n_embd)).astype(np.float32))
        writer.add_tensor(f"{name}.lora_b", rng.normal(0, magnitude, (n_embd, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
