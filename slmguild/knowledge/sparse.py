"""BM25 as sparse vectors, for Qdrant's sparse index.

Qdrant computes the IDF half of BM25 itself (`Modifier.IDF` on the sparse vector,
updated as points come and go); a document vector carries the other half, the term
frequency saturated and normalized by length. A query vector is 1 per distinct term.
Terms are lower-cased, stemmed (Snowball) and hashed to a stable 32-bit index, so
the vocabulary needs no state of its own. Works offline: no model is downloaded.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

from slmguild.knowledge.words import stemmer

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    ["a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "yours"]
)


@dataclass
class BM25Encoder:
    """Text to BM25 sparse vectors: `(indices, values)` as Qdrant wants them.

    `avg_length` stands in for the corpus's mean chunk length (in terms); it only
    tunes how much a long chunk is discounted, so a fixed value near the real one does.
    """

    k1: float = 1.2
    b: float = 0.75
    avg_length: float = 120.0
    language: str = "english"

    def terms(self, text: str) -> list[str]:
        """The stemmed, lower-cased words of `text`, stopwords left out."""
        words = [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]
        return stemmer(self.language).stemWords(words)

    def encode_document(self, text: str) -> tuple[list[int], list[float]]:
        counts = Counter(self.terms(text))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_length)
        weights = {
            _index(term): tf * (self.k1 + 1) / (tf + norm) for term, tf in counts.items()
        }
        return _sorted(weights)

    def encode_query(self, text: str) -> tuple[list[int], list[float]]:
        return _sorted({_index(term): 1.0 for term in self.terms(text)})


def _index(term: str) -> int:
    # crc32 is stable across processes and Python versions, unlike hash().
    return zlib.crc32(term.encode("utf-8"))


def _sorted(weights: dict[int, float]) -> tuple[list[int], list[float]]:
    indices = sorted(weights)
    return indices, [weights[index] for index in indices]
