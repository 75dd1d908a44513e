"""`FakeEmbedder`: exact, instant embeddings for tests of knowledge and routing."""

from __future__ import annotations

import math
import re
import zlib

from langchain_core.embeddings import Embeddings


class FakeEmbedder(Embeddings):
    """A bag of hashed words as a unit vector: texts that share words are close.

    Deterministic across processes, no model. Every text it embedded is kept in
    `embedded`, so a test can check what was (re-)embedded.
    """

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    def _vector(self, text: str) -> list[float]:
        self.embedded.append(text)
        vector = [0.0] * self.dimension
        for word in re.findall(r"\w+", text.lower()):
            vector[zlib.crc32(word.encode()) % self.dimension] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]
