"""A router trained on the guild's exemplars, that knows what nobody owns.

`slmguild router train` fits a multinomial logistic regression over the embeddings of
every expert's exemplars, description topics and documents: each sub-topic, each topic
phrase and each document is a class of its expert, and one more class holds requests
that no expert owns (a shipped set of general requests, `data/general_requests.txt`,
plus the guild's `routing.out_of_scope`).
An expert's score is the probability of its classes together, so scores are comparable
across experts and one threshold, fitted on labelled rows by what a mistake costs
(`RoutingCosts`), decides when nobody owns a request. On CLINC150 it refused 84% of
out-of-scope requests where the centroids refused 62%, at the same in-scope accuracy
(docs/performance.md, "Routing").

Fitting needs scikit-learn (`pip install 'slmguild[router]'`); routing needs only numpy:
the model is a weight matrix in a `.npz` file beside the guild file."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from slmguild.errors import ConfigError, SlmguildError
from slmguild.orchestrator.routers import RouteDecision
from slmguild.vectors import unit

NOBODY = "(nobody)"  # the class of requests that no expert owns


def general_requests() -> list[str]:
    """The shipped out-of-scope examples: CLINC150's 100 out-of-scope training requests
    (Larson et al. 2019, CC BY 3.0; see `data/README.md`)."""
    text = resources.files("slmguild.orchestrator").joinpath("data/general_requests.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip()]


def description_topics(description: str) -> list[str]:
    """The topic phrases of an expert's description: its parts between commas, semicolons,
    colons, brackets, spaced dashes, "and" and "or" ("Owns IT topics - accounts and
    passwords, the VPN" gives "Owns IT topics", "accounts", "passwords", "the VPN")."""
    parts = re.split(r"\s[-–—]\s|[,;:()]|\band\b|\bor\b", description)
    return [phrase for part in parts if len(phrase := part.strip(" .")) > 2]


def with_description_topics(exemplars: Mapping[str, Mapping[str, Sequence[str]]],
                            descriptions: Mapping[str, str]) -> dict[str, dict[str, list[str]]]:
    """The exemplars, and each expert's description topics as sub-topics of one text each
    (`topic:PHRASE`): a sub-topic that no exemplar covers is still named by the
    description. On CLINC150 with 10 exemplars per domain, spread over 15 intents, they
    raised in-scope accuracy by ~14 points; where exemplars cover every sub-topic they
    change little (docs/performance.md, "Routing")."""
    merged = {expert: {name: list(group) for name, group in groups.items()} for expert, groups in exemplars.items()}
    for expert, description in descriptions.items():
        for phrase in description_topics(description):
            merged.setdefault(expert, {})[f"topic:{phrase}"] = [phrase]
    return merged


def fingerprint(exemplars: Mapping[str, Mapping[str, Sequence[str]]], out_of_scope: Sequence[str],
                embedder: str) -> str:
    """A digest of what a model is trained on, so that a stale model is noticed."""
    payload = json.dumps([exemplars, list(out_of_scope), embedder], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class RouterModel:
    """Weights of the logistic regression, the expert of each class, and the threshold."""

    owners: list[str]  # the expert of each class; NOBODY for the out-of-scope class
    weights: np.ndarray  # (embedding dimension, classes)
    bias: np.ndarray  # (classes,)
    threshold: float
    fingerprint: str
    # Routes with its own encoder, tuned on the exemplars (`router train --tune-encoder`),
    # kept beside the model file (`encoder_files`); False: with the knowledge embedder.
    tuned_encoder: bool = False

    @property
    def experts(self) -> list[str]:
        return list(dict.fromkeys(owner for owner in self.owners if owner != NOBODY))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Per row of unit `vectors`, each expert's probability (columns in `experts` order)."""
        logits = np.atleast_2d(vectors) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        classes = np.exp(logits)
        classes /= classes.sum(axis=1, keepdims=True)
        owners = np.asarray(self.owners)
        return np.stack([classes[:, owners == expert].sum(axis=1) for expert in self.experts], axis=1)

    def save(self, path: str | Path) -> None:
        """Write the model as a `.npz` (no pickles: loading it runs no code)."""
        meta = json.dumps({"owners": self.owners, "threshold": self.threshold, "fingerprint": self.fingerprint,
                           "tuned_encoder": self.tuned_encoder})
        with Path(path).open("wb") as stream:
            np.savez(stream, weights=self.weights, bias=self.bias, meta=np.asarray(meta))

    @classmethod
    def load(cls, path: str | Path) -> RouterModel:
        """Read a model written by `save`; `ConfigError` if it is missing or not one."""
        try:
            with np.load(Path(path), allow_pickle=False) as saved:
                meta = json.loads(str(saved["meta"]))
                return cls(meta["owners"], saved["weights"], saved["bias"], float(meta["threshold"]),
                           meta["fingerprint"], bool(meta.get("tuned_encoder", False)))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no trained router here; run `slmguild router train`") from None
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: not a router written by `slmguild router train` ({exc})") from None


def encoder_files(model_path: str | Path) -> tuple[Path, Path]:
    """Where the tuned encoder of the router model at `model_path` is kept, beside it: the
    int8 ONNX file and its tokenizer."""
    path = Path(model_path)
    stem = path.name.removesuffix(path.suffix)
    return path.with_name(f"{stem}.encoder.onnx"), path.with_name(f"{stem}.encoder.tokenizer.json")


def tuned_embedder(model_path: str | Path) -> Embeddings:
    """The tuned encoder of the router model at `model_path`; `ConfigError` if it is missing."""
    from slmguild.serving.onnx_embeddings import OnnxEmbeddings

    encoder, tokenizer = encoder_files(model_path)
    if not (encoder.is_file() and tokenizer.is_file()):
        raise ConfigError(f"{model_path} routes with a tuned encoder, but {encoder.name} or {tokenizer.name} "
                          "is missing beside it; run `slmguild router train --tune-encoder` again")
    return OnnxEmbeddings(encoder, tokenizer)


@dataclass(frozen=True)
class RoutingCosts:
    """What each kind of routing mistake costs a user, and how often requests are nobody's.

    The threshold minimizes the expected cost per request; rates are taken per kind of
    labelled row, so the mix of the calibration file does not tilt the choice.
    """

    refused: float = 1.0  # a request an expert owns goes to the fallback
    misrouted: float = 1.0  # it goes to the wrong expert
    accepted: float = 1.0  # a request nobody owns goes to an expert
    out_of_scope_share: float = 0.1  # the share of real requests that nobody owns

    def expected(self, refused: float, misrouted: float, accepted: float) -> float:
        """Expected cost per request, given the three error rates."""
        in_scope = (1 - self.out_of_scope_share) * (refused * self.refused + misrouted * self.misrouted)
        return in_scope + self.out_of_scope_share * accepted * self.accepted


def fit_router_model(
    embedder: Embeddings,
    exemplars: Mapping[str, Mapping[str, Sequence[str]]],
    out_of_scope: Sequence[str],
    *,
    embedder_name: str,
    documents: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    regularization: float = 30.0,
) -> RouterModel:
    """Fit the classes (each expert's sub-topics, and nobody's) on the exemplars' embeddings.

    `documents` (expert -> source file -> its chunks' texts, from the knowledge store)
    adds one class per document, learnt from its paragraphs: words that no exemplar
    foresaw but the expert's documents use ("e-bike" for the commuting policy) then point
    to the expert. (Paragraphs, not whole chunks: closer to a request's length, and they
    routed better on the example guild's calibration rows.) `regularization` is
    scikit-learn's C (inverse strength): 30 and 10 tied on CLINC150; 30 was better on the
    example guild's calibration rows once documents were in. The threshold starts at 0.5
    until `calibrate` sets it.
    """
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SlmguildError("training a router needs scikit-learn: pip install 'slmguild[router]'") from None
    owners: list[str] = []
    texts: list[str] = []
    labels: list[int] = []
    for expert, groups in exemplars.items():
        for group in groups.values():
            if group:
                owners.append(expert)
                texts += group
                labels += [len(owners) - 1] * len(group)
    if not owners or not out_of_scope:
        raise SlmguildError("a trained router needs exemplars for at least one expert and out-of-scope examples")
    owners.append(NOBODY)
    texts += out_of_scope
    labels += [len(owners) - 1] * len(out_of_scope)
    for expert, sources in (documents or {}).items():
        for chunks in sources.values():
            passages = paragraphs(chunks)
            if passages:
                owners.append(expert)
                texts += passages
                labels += [len(owners) - 1] * len(passages)
    vectors = unit(np.asarray(embedder.embed_documents(texts), dtype=np.float32))
    with warnings.catch_warnings():
        # Many classes of few rows each is the design (sub-topics), not a regression in disguise.
        warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
        classifier = LogisticRegression(C=regularization, max_iter=5000).fit(vectors, labels)
    plain = {expert: {name: list(group) for name, group in groups.items()} for expert, groups in exemplars.items()}
    return RouterModel(owners, classifier.coef_.T.astype(np.float32), classifier.intercept_.astype(np.float32),
                       0.5, fingerprint(plain, out_of_scope, embedder_name))


def paragraphs(chunks: Sequence[str], *, shortest: int = 40, longest: int = 400) -> list[str]:
    """The chunks' paragraphs long enough to say something (headings and stubs dropped),
    each cut to `longest` characters."""
    found = (part.strip() for chunk in chunks for part in re.split(r"\n\s*\n", chunk))
    return [part[:longest] for part in found if len(part) >= shortest]


@dataclass(frozen=True)
class Calibration:
    """The chosen threshold and what it does on the labelled rows."""

    threshold: float
    accuracy: float  # every row, out-of-scope ones right when refused
    in_scope_accuracy: float
    in_scope_refused: float
    out_of_scope_refused: float | None  # None: no out-of-scope rows
    rows: int


def calibrate(model: RouterModel, vectors: np.ndarray, labels: Sequence[str | None],
              costs: RoutingCosts = RoutingCosts()) -> Calibration:
    """Choose the threshold with the least expected cost on labelled rows (never the
    exemplars) and set it on `model`."""
    probabilities = model.probabilities(unit(vectors))
    best = probabilities.max(axis=1)
    routed = np.asarray(model.experts)[probabilities.argmax(axis=1)]
    owned = np.asarray([label is not None for label in labels])
    right = np.asarray([label == expert for label, expert in zip(labels, routed, strict=True)])
    if not owned.any():
        raise SlmguildError("calibration needs labelled requests that an expert owns")

    def outcome(threshold: float) -> tuple[float, float, float]:
        kept = best >= threshold
        refused = float((~kept & owned).sum() / owned.sum())
        misrouted = float((kept & owned & ~right).sum() / owned.sum())
        accepted = float((kept & ~owned).sum() / (~owned).sum()) if (~owned).any() else 0.0
        return refused, misrouted, accepted

    candidates = np.unique(np.concatenate([best, [0.0]]))
    threshold = float(min(candidates, key=lambda t: (costs.expected(*outcome(t)), t)))
    model.threshold = math.floor(threshold * 10_000) / 10_000  # rounded down: the rows it keeps stay kept
    refused, misrouted, accepted = outcome(model.threshold)
    in_scope_right = 1 - refused - misrouted
    return Calibration(
        threshold=model.threshold,
        accuracy=float((owned.sum() * in_scope_right + (~owned).sum() * (1 - accepted)) / len(labels)),
        in_scope_accuracy=in_scope_right,
        in_scope_refused=refused,
        out_of_scope_refused=1 - accepted if (~owned).any() else None,
        rows=len(labels),
    )


class TrainedRouter:
    """Routes with a `RouterModel`: the same `scores`/`decide` interface as `EmbeddingRouter`,
    so the cascade and the clause planner use it unchanged."""

    def __init__(self, embedder: Embeddings, model: RouterModel) -> None:
        self.embedder = embedder
        self.model = model

    @property
    def experts(self) -> list[str]:
        return self.model.experts

    def scores(self, message: str) -> dict[str, float]:
        """Every expert's probability of owning `message`."""
        vector = unit(np.asarray(self.embedder.embed_query(message), dtype=np.float32))
        probabilities = self.model.probabilities(vector)[0]
        return {expert: round(float(p), 4) for expert, p in zip(self.experts, probabilities, strict=True)}

    def decide(self, scores: dict[str, float]) -> RouteDecision:
        """The most probable expert if it clears the model's threshold, else nobody."""
        best = max(scores, key=scores.__getitem__)
        if scores[best] < self.model.threshold:
            return RouteDecision(None, f"best match {best} ({scores[best]:.3f}) is below the trained "
                                       f"router's threshold {self.model.threshold:.3f}", scores)
        return RouteDecision(best, f"trained router ({scores[best]:.3f})", scores)

    def route(self, message: str, current: str | None = None) -> RouteDecision:
        return self.decide(self.scores(message))

    async def aroute(self, message: str, current: str | None = None) -> RouteDecision:
        return await asyncio.to_thread(self.route, message, current)


def labelled_vectors(
    embedder: Embeddings, rows: Sequence[tuple[str, str | None]]
) -> tuple[np.ndarray, list[str | None]]:
    """The embeddings of labelled requests and their labels, for `calibrate`."""
    vectors = embedder.embed_documents([text for text, _ in rows])
    return np.asarray(vectors, dtype=np.float32), [label for _, label in rows]
