"""Unit vectors, so that cosine similarity is a dot product (routing, demonstrations)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def unit(vectors: npt.ArrayLike) -> np.ndarray:
    """`vectors` (one, or one per row) scaled to length 1, as float32; zero stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
