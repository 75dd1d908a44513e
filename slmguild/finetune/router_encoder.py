"""A sentence encoder tuned to tell the guild's sub-topics apart, for routing.

The trained router's ceiling is its encoder: on CLINC150 every classifier tried over the
frozen all-MiniLM-L6-v2 embeddings stopped at 96–96.4% in-scope accuracy (docs/performance.md,
"Routing"). Tuning the encoder itself on the exemplars, SetFit-style (Tunstall et al.
2022), moves requests of one sub-topic together and those of different sub-topics apart:

- pairs of exemplars of the same class (a sub-topic, or a tool's examples) are the
  positives; the other pairs of the batch are the negatives, except those of the same
  class (a multiple-negatives ranking loss with the false negatives masked out);
- the fp32 MiniLM from its wheel is tuned with torch on the CPU (a few minutes), then
  exported to ONNX and quantized to compute in 8 bits (`slmguild.serving.onnx_quantize`),
  so that routing runs it as it runs the knowledge embedder: no torch at routing time.

Only routing uses the tuned encoder; the knowledge stores keep theirs (their vectors were
made by it). Needs `slmguild[finetune]` (torch, transformers).
"""

from __future__ import annotations

import random
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmguild.errors import SlmguildError, require
from slmguild.serving.onnx_quantize import quantize_matmuls

BASE_ENCODER = "all-minilm-l6-v2"  # the catalog's fp32 MiniLM: the weights that are tuned


@dataclass(frozen=True)
class EncoderTuning:
    """How the encoder is tuned; the defaults are those measured on CLINC150 (docs/performance.md, "Routing")."""

    epochs: int = 4
    pairs_per_batch: int = 32
    learning_rate: float = 2e-5
    # Cosine similarities are divided by this before the softmax (sentence-transformers'
    # scale of 20): sharp enough that near misses of another class are pushed away.
    temperature: float = 0.05
    max_length: int = 64  # tokens: requests are short, and short batches train fast (routing reads 256)
    seed: int = 0


def tune_encoder(
    classes: Sequence[Sequence[str]],
    out: Path,
    tokenizer_out: Path,
    *,
    tuning: EncoderTuning = EncoderTuning(),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Tune the base encoder so that texts of one class embed close together, and write it
    as an int8 ONNX file `out`, and its tokenizer as `tokenizer_out`.

    `classes` are groups of texts that belong together (each sub-topic's exemplars, each
    tool's examples); a group of one text gives no pair and is left out. `progress(step,
    steps)` is called after each training step.
    """
    torch = require("torch", "finetune")
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    from slmguild.serving.catalog import model_files

    tokenizer_file, config_file, weights_file = model_files(BASE_ENCODER)
    labelled = [(text, label) for label, texts in enumerate(classes) if len(texts) > 1 for text in texts]
    if not labelled:
        raise SlmguildError("tuning the encoder needs a sub-topic with at least two exemplars")
    torch.manual_seed(tuning.seed)
    model = BertModel(BertConfig.from_json_file(str(config_file)))
    model.load_state_dict(load_file(str(weights_file)), strict=False)  # extra: a position-ids buffer
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(tuning.max_length)
    tokenizer.enable_padding()

    def embed(texts: list[str]) -> Any:
        encodings = tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        tokens = model(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    rng = random.Random(tuning.seed)
    batches_per_epoch = [_pair_batches(labelled, tuning.pairs_per_batch, rng) for _ in range(tuning.epochs)]
    steps = sum(len(batches) for batches in batches_per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tuning.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    model.train()
    step = 0
    for batches in batches_per_epoch:
        for anchors, positives, labels in batches:
            scores = embed(anchors) @ embed(positives).T / tuning.temperature
            label_tensor = torch.tensor(labels)
            # Another pair of the same class is no negative: mask it out of the softmax.
            same = (label_tensor[:, None] == label_tensor[None, :]) & ~torch.eye(len(labels), dtype=torch.bool)
            scores = scores.masked_fill(same, float("-inf"))
            target = torch.arange(len(labels))
            loss = (torch.nn.functional.cross_entropy(scores, target)
                    + torch.nn.functional.cross_entropy(scores.T, target)) / 2
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if progress:
                progress(step, steps)
    model.eval()
    _export_int8(model, out, torch)
    tokenizer_out.write_bytes(Path(tokenizer_file).read_bytes())
    return out


def _pair_batches(
    labelled: list[tuple[str, int]], size: int, rng: random.Random
) -> list[tuple[list[str], list[str], list[int]]]:
    """One epoch of batches of (anchor, positive) pairs: each class's texts shuffled and
    paired off (an odd one out is paired with a random other of its class)."""
    by_class: dict[int, list[str]] = defaultdict(list)
    for text, label in labelled:
        by_class[label].append(text)
    pairs = []
    for label, texts in by_class.items():
        shuffled = rng.sample(texts, len(texts))
        if len(shuffled) % 2:
            shuffled.append(rng.choice(shuffled[:-1]))
        pairs += [(shuffled[i], shuffled[i + 1], label) for i in range(0, len(shuffled), 2)]
    rng.shuffle(pairs)
    batches = []
    for start in range(0, len(pairs), size):
        anchors, positives, labels = zip(*pairs[start : start + size], strict=True)
        batches.append((list(anchors), list(positives), list(labels)))
    return batches


def _export_int8(model: Any, out: Path, torch: Any) -> None:
    """The model's token vectors as an ONNX graph (the pooling is `OnnxEmbeddings`'),
    its products computed in 8 bits: ~23 MB, and twice as fast on a CPU as fp32 (5.4 vs
    10.2 ms a query here)."""

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    example = torch.ones((1, 8), dtype=torch.long)
    dynamic = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
               "token_type_ids": {0: "batch", 1: "tokens"}, "last_hidden_state": {0: "batch", 1: "tokens"}}
    with tempfile.TemporaryDirectory(prefix="slmguild-encoder-") as tmp, warnings.catch_warnings():
        # The tracer warns of Python branches in transformers' attention code; they depend on
        # the inputs' presence, not their shapes, which stay dynamic (`dynamic_axes`).
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "encoder.fp32.onnx"
        with torch.no_grad():
            # The TorchScript exporter: the dynamo one needs onnxscript and handles no more here.
            torch.onnx.export(TokenVectors(), (example, example, torch.zeros_like(example)), str(fp32),
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], dynamic_axes=dynamic, opset_version=17,
                              dynamo=False)
        quantize_matmuls(fp32, out)  # never a half-written encoder where the router looks for it
