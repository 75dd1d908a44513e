"""Sentence embeddings from an ONNX encoder (all-MiniLM-L6-v2 int8 by default).

The default knowledge embedder: a 22 MB model from a PyPI wheel, run by onnxruntime
on the CPU with no torch, ~5 ms a query. Sentence-transformers models are pooled by
the mean of their token vectors (padding masked out) and normalized, which is done
here because the ONNX graph stops at the token vectors.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from slmguild.serving.catalog import model_files


class OnnxEmbeddings(Embeddings):
    """langchain-core `Embeddings` computed by an ONNX sentence encoder in this process."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path,
        *,
        max_length: int = 256,
        batch_size: int = 4,
        threads: int | None = None,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.enable_padding()
        self._lock = threading.Lock()  # a Tokenizer with padding state is not re-entrant
        self.batch_size = batch_size
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    @classmethod
    def from_catalog(cls, name: str, **options: int) -> OnnxEmbeddings:
        """The catalog embedder `name` (its model and tokenizer files)."""
        model, tokenizer = model_files(name)
        return cls(model, tokenizer, **options)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The texts' vectors, in their order. They are embedded shortest first, in small
        batches: a batch is padded to its longest text, and a turn's passages range from
        a few words to a table (measured: 0.15 s for a turn's ~12 passages, 0.45 s in
        one batch of 32)."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            vectors[batch] = self._embed([texts[index] for index in batch])
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        (tokens,) = self._session.run(None, feed)
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
