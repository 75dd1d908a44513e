"""Retrieval quality and speed of the knowledge stores, side by side in one run.

    python benchmarks/retrieval.py                       # the example guild, its labelled set
    python benchmarks/retrieval.py --embedders onnx:all-minilm-l6-v2-q8 embedded:smollm2-135m-instruct

For every embedder: ingest the guild's documents into a scratch Qdrant (local mode),
then score each labelled question (question -> expert -> source document) against its
expert's collection: recall@1, recall@5 and MRR@10 of the right *document*, for dense,
sparse (BM25), hybrid (RRF) and hybrid+rerank (when the guild configures a reranker).
Then the first embedder's speed: ingest throughput, and end-to-end query latency
(embed + search) at 1k and 10k chunks, the extra chunks made by shuffling the real
chunks' sentences (real vocabulary, real embeddings).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from slmguild.config import DEFAULT_EMBEDDER, EmbedderSpec, StoreConfig, load_config
from slmguild.evaluation import source_rank, sourced_rows
from slmguild.knowledge import Chunk, KnowledgeBase

ROOT = Path(__file__).resolve().parents[1]
MODES = ("dense", "sparse", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guild", default=ROOT / "examples/acme/guild.yaml", type=Path)
    parser.add_argument("--questions", default=ROOT / "examples/acme/retrieval_questions.jsonl", type=Path)
    parser.add_argument(
        "--embedders", nargs="+", default=[f"onnx:{DEFAULT_EMBEDDER}"],
        help="backend:name of each embedder to compare, e.g. embedded:smollm2-135m-instruct "
        "(the first is also timed)",
    )
    parser.add_argument("--scales", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    quality, speed = [], {}
    with tempfile.TemporaryDirectory(prefix="slmguild-bench-") as scratch:
        for index, label in enumerate(args.embedders):
            base = _knowledge_base(args.guild, label, Path(scratch) / f"store{index}")
            started = time.perf_counter()
            reports = base.ingest()
            chunks = sum(report.chunks for report in reports)
            ingest_s = time.perf_counter() - started
            modes = MODES + (("hybrid+rerank",) if base.reranker else ())
            for mode in modes:
                quality.append({"embedder": label, "mode": mode, **_score(base, questions, mode)})
            if index == 0:
                speed = {
                    "embedder": label,
                    "chunks": chunks,
                    "ingest_chunks_per_s": round(chunks / ingest_s, 1),
                    "latency": [_latency_at(base, questions, scale) for scale in args.scales],
                }
    if args.json:
        print(json.dumps({"questions": len(questions), "quality": quality, "speed": speed}, indent=2))
        return
    print(f"{len(questions)} labelled questions, {speed['chunks']} chunks ({args.guild.parent.name})\n")
    print("| embedder | search | recall@1 | recall@5 | MRR@10 |")
    print("|---|---|---|---|---|")
    for row in quality:
        print(f"| {row['embedder']} | {row['mode']} | {row['recall@1']:.3f} | {row['recall@5']:.3f} | {row['mrr']:.3f} |")
    print(f"\ningest ({speed['embedder']}): {speed['ingest_chunks_per_s']} chunks/s, "
          "parse + embed + store, incremental checks included\n")
    print("| chunks in the collection | hybrid query p50 | p95 | dense only p50 | p95 |")
    print("|---|---|---|---|---|")
    for row in speed["latency"]:
        print(f"| {row['chunks']} | {row['hybrid_p50_ms']} ms | {row['hybrid_p95_ms']} ms "
              f"| {row['dense_p50_ms']} ms | {row['dense_p95_ms']} ms |")


def _knowledge_base(guild: Path, label: str, store: Path) -> KnowledgeBase:
    config = load_config(guild)
    backend, name = label.split(":", 1)
    config.knowledge.embedder = EmbedderSpec(backend=backend, name=name)
    config.knowledge.store = StoreConfig(path=str(store))
    return KnowledgeBase(config)


def _score(base: KnowledgeBase, questions: list[dict], mode: str) -> dict[str, float]:
    """Rank of the right document among the first 10 chunks' documents, per question."""
    search_mode = mode.split("+")[0]
    rerank = mode.endswith("+rerank")
    ranks = [source_rank(base, item, 10, mode=search_mode, rerank=rerank) for item in sourced_rows(questions)]
    total = len(ranks)
    return {
        "recall@1": sum(1 for r in ranks if r == 1) / total,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / total,
        "mrr": sum(1 / r for r in ranks if r is not None) / total,
    }


def _latency_at(base: KnowledgeBase, questions: list[dict], scale: int) -> dict[str, float]:
    """Query latency with the first expert's collection grown to `scale` chunks."""
    expert = base.experts()[0]
    store = base.store
    real = _all_chunks(base, expert)
    start = store.count(expert)
    for begin in range(start, scale, 512):
        batch = _synthetic_chunks(real, min(512, scale - begin), start=begin)
        dense = base.embedder.embed_documents([base.document_text(chunk) for chunk in batch])
        sparse = [base.bm25.encode_document(chunk.embedding_text()) for chunk in batch]
        store.replace_file(expert, batch[0].source, batch, dense, sparse)
    row: dict[str, float] = {"chunks": store.count(expert)}
    for mode in ("hybrid", "dense"):
        times = []
        for item in questions:
            started = time.perf_counter()
            base.search(expert, item["question"], mode=mode)  # type: ignore[arg-type]
            times.append((time.perf_counter() - started) * 1000)
        cuts = statistics.quantiles(times, n=20)
        row[f"{mode}_p50_ms"] = round(statistics.median(times), 1)
        row[f"{mode}_p95_ms"] = round(cuts[18], 1)
    return row


def _all_chunks(base: KnowledgeBase, expert: str) -> list[Chunk]:
    points, _ = base.store.client.scroll(base.store.collection(expert), limit=100_000, with_payload=True)
    return [Chunk.from_payload(point.payload or {}) for point in points]


def _synthetic_chunks(real: list[Chunk], count: int, start: int) -> list[Chunk]:
    """`count` new chunks of one synthetic file, each a shuffle of the real chunks' sentences."""
    rng = random.Random(start)
    sentences = [s.strip() for chunk in real for s in chunk.text.split(". ") if s.strip()]
    chunks = []
    for number in range(start, start + count):
        text = ". ".join(rng.sample(sentences, k=min(6, len(sentences))))
        chunks.append(
            Chunk(
                source=f"synthetic/{start}.md", index=number, text=text, title="synthetic",
                heading="", file_hash="synthetic", content_hash=str(number),
            )
        )
    return chunks


if __name__ == "__main__":
    main()
