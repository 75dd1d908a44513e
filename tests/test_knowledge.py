"""Knowledge: chunking, incremental ingest, hybrid search, filters, bad input, citations."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import slmguild
from slmguild.config import load_config
from slmguild.errors import ConfigError, KnowledgeError
from slmguild.knowledge import KnowledgeBase
from slmguild.knowledge.chunks import chunk_file
from slmguild.knowledge.sparse import BM25Encoder
from slmguild.knowledge.words import content_words
from slmguild.orchestrator.events import Retrieved
from slmguild.testing import FakeEmbedder, ScriptedModel

VPN = """\
# VPN password

## Resetting it

Open https://selfservice.acme.example and choose Reset SecureLink password.
The new password needs at least 12 characters.
"""
WIFI = """\
# Wi-Fi

## Guest network

Visitors join ACME-Guest with a voucher from reception, valid for 24 hours.
"""
PRINTING = "Printers: send jobs to the queue ACME-Print and badge at any printer to release them.\n"


def guild_file(tmp_path: Path, store: str = "store", extra: str = "") -> Path:
    path = tmp_path / "guild.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            name: kb-test
            knowledge:
              store: {{path: {store}}}
              top_k: 2
            {extra}
            experts:
              it:
                description: IT
                system_prompt: You are the IT desk.
                knowledge: {{sources: [docs]}}
            """),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "vpn.md").write_text(VPN)
    (folder / "wifi.md").write_text(WIFI)
    (folder / "printing.txt").write_text(PRINTING)
    return folder


def test_markdown_is_split_at_headings_and_chunks_know_their_title_and_heading(docs):
    chunks = chunk_file(docs / "vpn.md", "docs/vpn.md", chunk_size=256, chunk_overlap=0)
    # The title's section holds nothing but the title: it is no chunk (it would take a
    # search result's place and answer nothing).
    assert [c.heading for c in chunks] == ["Resetting it"]
    assert {c.title for c in chunks} == {"VPN password"}
    assert "12 characters" in chunks[0].text and chunks[0].label == "vpn#0"
    assert len({c.point_id for c in chunks}) == 1
    again = chunk_file(docs / "vpn.md", "docs/vpn.md", chunk_size=256, chunk_overlap=0)
    assert [c.point_id for c in again] == [c.point_id for c in chunks]


def test_html_becomes_markdown_without_scripts(tmp_path):
    page = tmp_path / "guest.html"
    page.write_text(
        "<html><head><title>Guest Wi-Fi</title><script>track()</script></head><body>"
        "<h2>Vouchers</h2><p>Ask <b>reception</b>.</p><script>var x = 1;</script></body></html>"
    )
    chunks = chunk_file(page, "guest.html", chunk_size=256, chunk_overlap=0)
    text = " ".join(c.text for c in chunks)
    assert chunks[0].title == "Guest Wi-Fi" and "Vouchers" in {c.heading for c in chunks}
    assert "reception" in text and "track" not in text and "var x" not in text


def test_pdf_text_is_read(tmp_path):
    pdf = tmp_path / "policy.pdf"
    pdf.write_bytes(minimal_pdf("Meal vouchers are worth 9 EUR per working day."))
    (chunk,) = chunk_file(pdf, "policy.pdf", chunk_size=256, chunk_overlap=0)
    assert "9 EUR per working day" in chunk.text


def test_bm25_terms_are_stemmed_and_skip_stopwords():
    encoder = BM25Encoder()
    assert encoder.terms("How do I reset the passwords?") == ["reset", "password"]
    indices, values = encoder.encode_document("reset reset password")
    assert len(indices) == 2 and values[indices.index(min(indices))] > 0
    assert encoder.encode_query("passwords") == encoder.encode_query("password")


def test_words_are_stemmed_alike_from_many_threads_at_once():
    """A Snowball stemmer keeps its word in its own fields: shared between threads (the parts
    of a multi-expert turn, concurrent sessions) it garbled words and crashed mid-word."""
    texts = [f"connecting {n} passwords expired, reimbursements processed and travelling {n}"
             for n in range(1000)]
    alone = [(content_words(text), BM25Encoder().terms(text)) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda text: (content_words(text), BM25Encoder().terms(text)), texts))
    assert together == alone


def test_reingest_embeds_only_changed_files_and_removes_deleted_ones(tmp_path, docs):
    embedder = FakeEmbedder()
    base = KnowledgeBase(load_config(guild_file(tmp_path)), embedder=embedder)
    (first,) = base.ingest()
    assert sorted(first.added) == ["docs/printing.txt", "docs/vpn.md", "docs/wifi.md"]
    stored = base.store.count("it")
    assert first.chunks == stored == len(embedder.embedded)

    embedder.embedded.clear()
    (second,) = base.ingest()  # nothing changed: nothing is read or embedded
    assert (second.added, second.updated, second.removed, second.chunks) == ([], [], [], 0)
    assert len(second.unchanged) == 3 and embedder.embedded == []
    assert base.store.count("it") == stored

    (docs / "wifi.md").write_text(WIFI.replace("24 hours", "48 hours"))
    (docs / "printing.txt").unlink()
    (docs / "mfa.md").write_text("# MFA\n\nApprove sign-ins in the ACME Verify app.\n")
    (third,) = base.ingest()
    assert third.updated == ["docs/wifi.md"] and third.removed == ["docs/printing.txt"]
    assert third.added == ["docs/mfa.md"] and third.unchanged == ["docs/vpn.md"]
    assert all("VPN" not in text for text in embedder.embedded)  # vpn.md was not re-embedded
    sources = set(base.store.indexed_files("it"))
    assert sources == {"docs/vpn.md", "docs/wifi.md", "docs/mfa.md"}
    (hit, *_) = base.search("it", "how long is a guest voucher valid")
    assert hit.chunk.source == "docs/wifi.md" and "48 hours" in hit.chunk.text


def test_hybrid_search_and_metadata_filters(tmp_path, docs):
    base = KnowledgeBase(load_config(guild_file(tmp_path)), embedder=FakeEmbedder())
    base.ingest()
    for mode in ("dense", "sparse", "hybrid"):
        hits = base.search("it", "reset my SecureLink password", mode=mode)
        assert hits[0].chunk.source == "docs/vpn.md", mode
        assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    only_wifi = base.search("it", "reset my SecureLink password", filters={"source": "docs/wifi.md"})
    assert only_wifi and {hit.chunk.source for hit in only_wifi} == {"docs/wifi.md"}
    either = base.search("it", "password", top_k=10, filters={"source": ["docs/wifi.md", "docs/printing.txt"]})
    assert {hit.chunk.source for hit in either} == {"docs/wifi.md", "docs/printing.txt"}


def test_a_corrupt_file_is_skipped_and_counted(tmp_path, docs):
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "empty.md").write_text("   \n")
    base = KnowledgeBase(load_config(guild_file(tmp_path)), embedder=FakeEmbedder())
    (report,) = base.ingest()
    assert set(report.skipped) == {"docs/broken.pdf", "docs/empty.md"}
    assert report.skipped["docs/empty.md"] == "no text found"
    assert len(report.added) == 3  # the rest is ingested


def test_another_embedder_needs_a_rebuild(tmp_path, docs):
    config = load_config(guild_file(tmp_path))
    KnowledgeBase(config, embedder=FakeEmbedder(dimension=64)).ingest()
    changed = KnowledgeBase(config, embedder=FakeEmbedder(dimension=32))
    with pytest.raises(KnowledgeError, match=r"64-d.*32-d.*slmguild ingest --expert it --rebuild"):
        changed.search("it", "vpn")
    with pytest.raises(KnowledgeError, match="--rebuild"):
        changed.ingest()
    (report,) = changed.ingest(rebuild=True)
    assert len(report.added) == 3 and changed.search("it", "vpn password")


def test_a_source_outside_the_roots_is_refused(tmp_path, docs):
    path = guild_file(tmp_path)
    path.write_text(path.read_text().replace("sources: [docs]", "sources: [docs, /etc]"))
    with pytest.raises(ConfigError, match=r"guild.yaml:\d+: experts.it.knowledge.sources.1: /etc is outside"):
        load_config(path)
    (docs / "escape.md").symlink_to("/etc/hostname")  # a link out of the roots, inside a source
    base = KnowledgeBase(load_config(guild_file(tmp_path)), embedder=FakeEmbedder())
    with pytest.raises(KnowledgeError, match="escape.md is outside the knowledge roots"):
        base.ingest()


def test_a_store_locked_by_another_process_is_a_clear_error(tmp_path, docs):
    config = load_config(guild_file(tmp_path))
    base = KnowledgeBase(config, embedder=FakeEmbedder())
    base.ingest()  # this process now holds the local store
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""\
            from slmguild.config import load_config
            from slmguild.knowledge import KnowledgeBase
            from slmguild.testing import FakeEmbedder
            KnowledgeBase(load_config({str(tmp_path / 'guild.yaml')!r}), embedder=FakeEmbedder()).search("it", "vpn")
            """)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert child.returncode != 0
    assert "KnowledgeError: the knowledge store" in child.stderr
    assert "open in another process" in child.stderr and "knowledge.store.url" in child.stderr


def test_searching_before_ingest_says_what_to_run(tmp_path, docs):
    base = KnowledgeBase(load_config(guild_file(tmp_path)), embedder=FakeEmbedder())
    with pytest.raises(KnowledgeError, match="slmguild ingest --expert it"):
        base.search("it", "vpn")


@pytest.fixture
def scripted_guild(tmp_path, docs):
    # The model answers freely from whole chunks: how the prompt carries them and citations.
    config = load_config(guild_file(tmp_path, extra="answer: {strategy: generative}"))
    base = KnowledgeBase(config, embedder=FakeEmbedder())
    base.ingest()
    return slmguild.Guild(config, knowledge=base)


def test_chunks_go_into_the_prompt_and_the_answer_keeps_its_citation(scripted_guild):
    with ScriptedModel(replies=["Use the self-service portal [vpn]."]) as model:
        scripted_guild.expert("it").model = model
        events = list(scripted_guild.stream("How do I reset my VPN password?", expert="it"))
    prompt = model.requests[0]["messages"][-1].content
    assert "[vpn]" in prompt and "selfservice.acme.example" in prompt and "cite" in prompt
    (retrieved,) = [e for e in events if isinstance(e, Retrieved)]
    assert retrieved.hits[0].chunk.source == "docs/vpn.md"
    reply = events[-1].reply
    assert reply.text == "Use the self-service portal [vpn]."  # cited: nothing appended
    assert reply.trace.retrieved[0].id == "vpn" and reply.trace.retrieved[0].rank == 1


def test_an_answer_that_forgets_to_cite_is_cited_for_it_when_a_document_supports_it(scripted_guild):
    expert = scripted_guild.expert("it")
    with ScriptedModel(replies=[
        "Open selfservice.acme.example and choose Reset SecureLink password: at least 12 characters.",
        "I like turtles very much indeed.",
    ]) as model:
        expert.model = model
        supported = scripted_guild.run("How do I reset my VPN password?", expert="it")
        unsupported = scripted_guild.run("How do I reset my VPN password?", expert="it")
    assert supported.text.endswith("Sources: [vpn]")
    assert "Sources" not in unsupported.text  # nothing in the documents says that


def test_cli_ingest_and_search(tmp_path, docs):
    from typer.testing import CliRunner

    from slmguild.cli import app

    runner = CliRunner()
    guild = guild_file(tmp_path, extra="")
    config_text = guild.read_text().replace(
        "knowledge:\n", "knowledge:\n  embedder: {backend: onnx, name: all-minilm-l6-v2-q8}\n", 1
    )
    guild.write_text(config_text)
    first = runner.invoke(app, ["ingest", "--guild", str(guild)])
    assert first.exit_code == 0, first.output
    assert "│ it " in first.output and "│ 3 " in first.output  # three files added
    second = runner.invoke(app, ["ingest", "--guild", str(guild), "--expert", "it"])
    assert second.exit_code == 0 and "│ 0      │" in second.output
    found = runner.invoke(app, ["knowledge", "search", "guest network voucher", "-e", "it", "-g", str(guild), "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert hits[0]["source"] == "docs/wifi.md" and hits[0]["rank"] == 1


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
         b"/Resources << /Font << /F1 5 0 R >> >> >>"),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def labelled_questions(example_guild: Path) -> list[dict]:
    path = example_guild.parent / "retrieval_questions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_labelled_questions_are_answered_by_their_source(example_guild):
    config = load_config(example_guild)
    questions = labelled_questions(example_guild)
    assert len(questions) >= 60
    for item in questions:
        source = example_guild.parent / item["source"]
        assert item["answer"] in source.read_text(), item
        roots = [Path(folder) for folder in config.experts[item["expert"]].knowledge.sources]
        assert any(source.resolve().is_relative_to(root) for root in roots), item


@pytest.mark.integration
def test_hybrid_search_finds_the_right_document_for_nine_questions_in_ten(ingested_example):
    base = KnowledgeBase(load_config(ingested_example))
    questions = labelled_questions(ingested_example)
    found = 0
    for item in questions:
        hits = base.search(item["expert"], item["question"], top_k=10)
        documents = list(dict.fromkeys(hit.chunk.source for hit in hits))[:5]
        found += item["source"] in documents
    assert found / len(questions) >= 0.9


class KeywordReranker:
    """Scores a chunk by whether it mentions `word`: an exact stand-in for a cross-encoder."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[tuple[str, int]] = []

    def score(self, query, texts):
        self.calls.append((query, len(texts)))
        return [1.0 if self.word in text else 0.0 for text in texts]


def test_a_reranker_reorders_the_fused_candidates_and_keeps_top_k(tmp_path, docs):
    reranker = KeywordReranker("reception")
    base = KnowledgeBase(load_config(guild_file(tmp_path)), embedder=FakeEmbedder(), reranker=reranker)
    base.ingest()
    plain = base.search("it", "reset my SecureLink password", rerank=False)
    assert plain[0].chunk.source == "docs/vpn.md" and reranker.calls == []
    reranked = base.search("it", "reset my SecureLink password")
    assert len(reranked) == 2  # top_k of the guild file
    assert reranked[0].chunk.source == "docs/wifi.md" and reranked[0].score == 1.0
    assert [hit.rank for hit in reranked] == [1, 2]
    (_query, candidates), = reranker.calls
    assert candidates > 2  # it read the candidates, not only the top_k


def test_llama_server_reranker_speaks_the_rerank_route():
    from slmguild.knowledge import LlamaServerReranker
    from tests.loopback import LoopbackHandler, LoopbackServer

    seen = []

    class RerankRoute(LoopbackHandler):
        def do_POST(self):  # llama-server's documented response: results with index and score
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body))
            results = [{"index": i, "relevance_score": float(len(doc))} for i, doc in enumerate(body["documents"])]
            self.send_json(200, {"object": "list", "results": results[::-1]})

    with LoopbackServer(RerankRoute) as server:
        reranker = LlamaServerReranker(f"{server.root}/v1", model="bge")
        assert reranker.score("q", ["a", "abc", "ab"]) == [1.0, 3.0, 2.0]
    assert seen == [("/v1/rerank", {"query": "q", "documents": ["a", "abc", "ab"], "model": "bge"})]
