"""The trained router: fitting on exemplars, documents and out-of-scope requests, the
cost-chosen threshold, saving and loading; `slmguild router train` and `calibrate` end to end."""

from __future__ import annotations

import json
import logging
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import slmguild
from slmguild.errors import ConfigError
from slmguild.orchestrator.routers import EmbeddingRouter
from slmguild.orchestrator.trained_router import (
    NOBODY,
    RouterModel,
    RoutingCosts,
    TrainedRouter,
    calibrate,
    description_topics,
    encoder_files,
    fit_router_model,
    labelled_vectors,
    with_description_topics,
)
from slmguild.testing import FakeEmbedder
from slmguild.vectors import unit

EXEMPLARS = {
    "it": {"vpn": ["how do I reset my vpn password", "the vpn does not connect", "vpn token expired"],
           "laptop": ["my laptop screen is broken", "I need a new laptop charger"]},
    "hr": {"leave": ["how many leave days do I have", "can I carry over annual leave days"],
           "parental": ["how long is parental leave", "parental leave for fathers"]},
}
NOBODYS = ["tell me a joke about penguins", "what is the weather tomorrow", "recommend a pizza topping",
           "who won the football match", "write a poem about the sea"]
LABELLED = [("vpn password reset please", "it"), ("laptop charger broken", "it"),
            ("leave days left", "hr"), ("parental leave length", "hr"),
            ("a joke about cats", None), ("the weather in paris", None)]


@pytest.fixture
def trained() -> TrainedRouter:
    embedder = FakeEmbedder()
    model = fit_router_model(embedder, EXEMPLARS, NOBODYS, embedder_name="fake")
    calibrate(model, *labelled_vectors(embedder, LABELLED))
    return TrainedRouter(embedder, model)


def test_a_trained_router_routes_what_experts_own_and_refuses_what_it_learnt_nobody_owns(trained):
    assert trained.route("my vpn does not connect").expert == "it"
    assert trained.route("how long is my leave").expert == "hr"
    refused = trained.route("tell me a joke about the weather")
    assert refused.expert is None and "below the trained router's threshold" in refused.reason
    assert set(refused.scores) == {"it", "hr"} and all(0 <= p <= 1 for p in refused.scores.values())


def test_an_experts_documents_teach_the_router_words_no_exemplar_has():
    embedder = FakeEmbedder()
    request = "is the e-bike allowance paid monthly"
    without = TrainedRouter(embedder, fit_router_model(embedder, EXEMPLARS, NOBODYS, embedder_name="fake"))
    policy = "# Commuting\n\nThe e-bike allowance is paid monthly with your salary, up to 30 EUR for an e-bike lease."
    documents = {"hr": {"commuting.md": [policy]}}
    model = fit_router_model(embedder, EXEMPLARS, NOBODYS, embedder_name="fake", documents=documents)
    assert model.owners.count("hr") == 3  # two sub-topics and one document
    with_documents = TrainedRouter(embedder, model).scores(request)
    assert with_documents["hr"] > without.scores(request)["hr"] and with_documents["hr"] > with_documents["it"]


def test_an_experts_description_names_sub_topics_that_no_exemplar_covers():
    description = "Owns HR topics - annual leave, payroll and pension (company plan), the Wi-Fi-free policy."
    assert description_topics(description) == [
        "Owns HR topics", "annual leave", "payroll", "pension", "company plan", "the Wi-Fi-free policy"]
    learnt = with_description_topics(EXEMPLARS, {"hr": "payroll and payslips"})
    assert learnt["hr"]["topic:payroll"] == ["payroll"] and learnt["it"] == EXEMPLARS["it"]
    embedder = FakeEmbedder()
    request = "when is payroll paid"
    without = TrainedRouter(embedder, fit_router_model(embedder, EXEMPLARS, NOBODYS, embedder_name="fake"))
    with_topics = TrainedRouter(embedder, fit_router_model(embedder, learnt, NOBODYS, embedder_name="fake"))
    assert with_topics.scores(request)["hr"] > without.scores(request)["hr"]
    assert with_topics.scores(request)["hr"] > with_topics.scores(request)["it"]


def test_the_threshold_follows_what_mistakes_cost():
    # Experts "a" and "b" on two axes; the request nobody owns is surer of "a" than one of a's own.
    model = RouterModel(["a", "b", NOBODY], np.eye(2, 3, dtype=np.float32) * 8, np.zeros(3, np.float32), 0.5, "x")
    vectors = np.asarray([[1, 0], [0, 1], [0.75, 0.66], [0.9, 0.44]], dtype=np.float32)
    labels = ["a", "b", "a", None]
    keep_everything = calibrate(model, vectors, labels, RoutingCosts(refused=100.0))
    assert keep_everything.in_scope_refused == 0 and keep_everything.out_of_scope_refused == 0
    refuse_nobodys = calibrate(model, vectors, labels, RoutingCosts(accepted=100.0))
    assert refuse_nobodys.out_of_scope_refused == 1 and refuse_nobodys.in_scope_refused == pytest.approx(1 / 3)
    assert model.threshold == refuse_nobodys.threshold > keep_everything.threshold  # set on the model


def test_a_saved_router_loads_and_scores_the_same(trained, tmp_path):
    path = tmp_path / "guild.router.npz"
    trained.model.save(path)
    loaded = TrainedRouter(trained.embedder, RouterModel.load(path))
    assert loaded.scores("my vpn does not connect") == trained.scores("my vpn does not connect")
    assert loaded.model.threshold == trained.model.threshold and loaded.model.owners == trained.model.owners
    (tmp_path / "broken.npz").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a router"):
        RouterModel.load(tmp_path / "broken.npz")
    with pytest.raises(ConfigError, match="slmguild router train"):
        RouterModel.load(tmp_path / "missing.npz")


@pytest.fixture
def guild_file(tmp_path):
    """A two-expert guild on the real embedder (MiniLM ONNX), and labelled requests beside it."""
    path = tmp_path / "guild.yaml"
    path.write_text(textwrap.dedent("""\
        name: trained   # a comment that must survive
        knowledge: {embedder: {backend: onnx, name: all-minilm-l6-v2-q8}}
        experts:
          it:
            description: IT
            system_prompt: IT desk.
            exemplars: {vpn: [how do I reset my vpn password, the vpn does not connect]}
          hr:
            description: HR
            system_prompt: HR desk.
            exemplars: {leave: [how many leave days do I have, can I carry over leave]}
        routing:
          out_of_scope: [who approves posts on the company blog]
        """))
    rows = [("my vpn password expired", "it"), ("vpn keeps disconnecting", "it"),
            ("leave days left this year", "hr"), ("carry over my holidays", "hr"),
            ("what is the capital of peru", None), ("recommend a pizza topping", None)]
    (tmp_path / "labelled.jsonl").write_text("\n".join(json.dumps({"text": t, "expert": e}) for t, e in rows))
    return path


def router_command(command: str, guild_file) -> str:
    from slmguild.cli import app

    labelled = guild_file.with_name("labelled.jsonl")
    result = CliRunner().invoke(app, ["router", command, "--data", str(labelled), "--guild", str(guild_file)])
    assert result.exit_code == 0, result.output
    return result.output


def test_router_train_saves_the_model_and_the_guild_routes_with_it(guild_file, caplog):
    """The real embedder and scikit-learn, from the command line."""
    assert "threshold" in router_command("train", guild_file)
    assert guild_file.with_name("guild.router.npz").exists()
    assert "# a comment that must survive" in guild_file.read_text()
    guild = slmguild.load_guild(guild_file)
    assert guild.config.routing.model == str(guild_file.with_name("guild.router.npz"))
    assert isinstance(guild.routing.scorer, TrainedRouter)
    assert guild.routing.router.route("the vpn will not connect from home").expert == "it"
    assert guild.routing.router.route("how many days of leave can I carry over").expert == "hr"

    # Exemplars changed after training: the stale model is not used, and the log says so.
    guild_file.write_text(guild_file.read_text().replace("can I carry over leave", "sick leave"))
    with caplog.at_level(logging.WARNING, logger="slmguild.orchestrator"):
        assert isinstance(slmguild.load_guild(guild_file).routing.scorer, EmbeddingRouter)
    assert "slmguild router train" in caplog.text


def test_router_calibrate_writes_the_centroids_thresholds_into_the_guild_file(guild_file):
    original = guild_file.read_text()
    router_command("calibrate", guild_file)
    text = guild_file.read_text()
    assert text.startswith(original.split("routing:")[0]) and "thresholds:" in text  # comments and layout kept
    config = slmguild.load_config(guild_file)
    assert set(config.routing.thresholds) <= {"it", "hr"} and config.routing.thresholds


def test_router_train_tunes_an_encoder_for_routing_only(guild_file):
    """`--tune-encoder`: the real fp32 MiniLM tuned on the exemplars with torch, exported to
    int8 ONNX beside the model; the guild routes with it, the knowledge keeps its embedder."""
    from slmguild.cli import app

    labelled = guild_file.with_name("labelled.jsonl")
    result = CliRunner().invoke(app, ["router", "train", "--tune-encoder", "--data", str(labelled),
                                      "--guild", str(guild_file)])
    assert result.exit_code == 0, result.output
    model_path = guild_file.with_name("guild.router.npz")
    encoder, tokenizer = encoder_files(model_path)
    assert RouterModel.load(model_path).tuned_encoder and encoder.is_file() and tokenizer.is_file()
    guild = slmguild.load_guild(guild_file)
    assert guild.routing.scorer.embedder is not guild.knowledge.embedder
    assert guild.routing.router.route("the vpn will not connect from home").expert == "it"
    assert guild.routing.router.route("how many days of leave can I carry over").expert == "hr"

    # Tuning drew each sub-topic's exemplars together, relative to the other sub-topic's.
    def spread(embedder) -> float:
        vpn = unit(np.asarray(embedder.embed_documents(["how do I reset my vpn password",
                                                        "the vpn does not connect"])))
        leave = unit(np.asarray(embedder.embed_documents(["how many leave days do I have"])))
        return float(vpn[0] @ vpn[1] - vpn[0] @ leave[0])

    assert spread(guild.routing.scorer.embedder) > spread(guild.knowledge.embedder)

    # Trained again without it: the model routes with the knowledge embedder, the files go.
    router_command("train", guild_file)
    assert not encoder.exists() and not tokenizer.exists()
    guild = slmguild.load_guild(guild_file)
    assert not RouterModel.load(model_path).tuned_encoder and guild.routing.scorer.embedder is guild.knowledge.embedder
