"""The OpenAI embeddings format: `POST /v1/embeddings` with the guild's embedder, the one
its knowledge stores and its router use, so a client's vectors compare with theirs.

The text is embedded as sent: a guild file's `document_prefix`/`query_prefix` (e5
models' "passage: ", "query: ") is the client's to add, since only it knows which the
text is.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from slmguild.server.openai_chat import RequestRefused

MAX_INPUTS = 2048  # OpenAI's bound on one request's texts


class EmbeddingRequest(BaseModel):
    """An embeddings request: `input` is a text or a list of texts."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = Field(None, ge=1)
    user: StrictStr | None = None

    def texts(self) -> list[str]:
        """The texts to embed; `RequestRefused` for token ids, empty texts, or too many."""
        items: list[Any] = [self.input] if isinstance(self.input, str) else list(self.input)
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) < len(items):
            raise RequestRefused("`input` as token ids is not supported: the guild's embedder has its own "
                                 "tokenizer; send the text", "input", "unsupported_value")
        if not texts or any(not text.strip() for text in texts):
            raise RequestRefused("`input` must be a non-empty text or a non-empty list of non-empty texts",
                                 "input", "invalid_value")
        if len(texts) > MAX_INPUTS:
            raise RequestRefused(f"`input` holds {len(texts)} texts: at most {MAX_INPUTS} a request",
                                 "input", "invalid_value")
        return texts


def embeddings_response(request: EmbeddingRequest, embedder: Embeddings) -> dict[str, Any]:
    """The `list` of `embedding` objects for `request`'s texts, in their order.

    `usage` counts no tokens (0): the embedders do not all say how many they read."""
    vectors = embedder.embed_documents(request.texts())
    size = len(vectors[0])
    if request.dimensions is not None and request.dimensions != size:
        raise RequestRefused(f"`dimensions` must be {size}, the embedder's: its vectors are not shortened",
                             "dimensions", "unsupported_value")
    return {"object": "list", "model": request.model, "usage": {"prompt_tokens": 0, "total_tokens": 0},
            "data": [{"object": "embedding", "index": index, "embedding": _encoded(vector, request.encoding_format)}
                     for index, vector in enumerate(vectors)]}


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """As OpenAI sends it: a list of floats, or base64 of little-endian float32s."""
    if encoding == "float":
        return [float(value) for value in vector]
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
