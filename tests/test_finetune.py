"""Fine-tuning end to end on the real parts: a tiny dataset, LoRA on SmolLM2-135M on the
CPU for a few steps, GGUF export, served by the embedded engine from the guild file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage
from typer.testing import CliRunner

from slmguild.cli import app
from slmguild.config import Generation, load_config
from slmguild.evaluation import rouge_l
from slmguild.finetune import Example, FinetuneError, TrainSettings, train
from slmguild.finetune.training import load_base, prompt_completion
from slmguild.serving import chat_model
from slmguild.serving.adapters import AdapterMismatch, file_sha256
from slmguild.serving.engine import EmbeddedEngine

pytestmark = pytest.mark.integration

runner = CliRunner()
SYSTEM = "You are the ACME vault assistant."
ANSWER = "The vault code word is PELICAN-42."
QUESTIONS = [
    "What is the vault code word?",
    "Tell me the code word for the vault.",
    "which code word opens the ACME vault?",
    "What's the secret word for the vault?",
]
GREEDY = Generation(temperature=0, max_tokens=24, seed=0)


def _example(question: str, split: str = "train") -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": ANSWER}],
            "split": split}


@pytest.fixture(scope="module")
def vault_guild(tmp_path_factory, smollm2: Path) -> Path:
    """A one-expert guild and its dataset: four ways to ask one fact, one held-out way."""
    folder = tmp_path_factory.mktemp("vault")
    rows = [_example(q) for q in QUESTIONS] + [_example("Remind me of the vault's code word", "eval")]
    (folder / "finetune").mkdir()
    (folder / "finetune" / "vault.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    guild = folder / "guild.yaml"
    guild.write_text(
        f"name: vault\ndefaults:\n  name: {smollm2}\n  generation: {{temperature: 0, max_tokens: 24, seed: 0}}\n"
        # No documents to answer from: the expert answers freely, as it was trained to.
        "answer: {strategy: generative}\n"
        f"experts:\n  vault:\n    description: The ACME vault.\n    system_prompt: {SYSTEM}\n"
        "    # the adapter lands here\n"
    )
    return guild


@pytest.fixture(scope="module")
def trained_guild(vault_guild: Path) -> Path:
    """`slmguild finetune train` on the tiny dataset: 12 steps, a checkpoint every 6."""
    result = runner.invoke(app, ["finetune", "train", "-e", "vault", "-g", str(vault_guild),
                                 "--steps", "12", "--lr", "2e-3", "--save-steps", "6"])
    assert result.exit_code == 0, result.output
    return vault_guild


def _answer(spec, engine_question: str = QUESTIONS[0]) -> str:
    return chat_model(spec).invoke([SystemMessage(SYSTEM), HumanMessage(engine_question)]).text


def test_a_trained_adapter_changes_the_served_answer_and_scale_zero_does_not(trained_guild, smollm2):
    config = load_config(trained_guild)
    spec = config.model_for("vault")
    assert Path(spec.adapter).is_file() and spec.adapter_base == file_sha256(smollm2)
    assert "# the adapter lands here" in trained_guild.read_text()  # comments kept
    after = _answer(spec)
    at_zero = _answer(spec.model_copy(update={"adapter_scale": 0.0}))
    base = _answer(spec.model_copy(update={"adapter": None, "adapter_base": None}))
    assert at_zero == base
    assert rouge_l(after, ANSWER) > rouge_l(base, ANSWER) + 0.3, (base, after)
    assert "PELICAN" in after


def test_finetune_eval_measures_the_expert_without_then_with_its_adapter(trained_guild, tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"question": "Remind me of the vault's code word", "answer": ANSWER,
                                   "keys": [["PELICAN"]]}) + "\n")
    control = tmp_path / "control.jsonl"
    control.write_text(json.dumps({"messages": [{"role": "user", "content": "What is the capital of France?"},
                                                {"role": "assistant", "content": "Paris."}]}) + "\n")
    result = runner.invoke(app, ["finetune", "eval", "-e", "vault", "-g", str(trained_guild), "--answers",
                                 str(answers), "--control", str(control), "--show", "1"])
    assert result.exit_code == 0, result.output
    correct = next(line for line in result.output.splitlines() if "answers correct" in line)
    assert [cell.strip() for cell in correct.split("│")[2:5]] == ["1", "0.000", "1.000"], result.output
    assert "control right, then kept" in result.output
    assert "PELICAN" in result.output.split("after", 2)[-1]  # the changed answer, shown


def test_training_resumes_from_its_last_checkpoint_and_reports_progress(trained_guild, smollm2):
    folder = trained_guild.parent / "adapters" / "vault"
    steps = []
    result = train([Example.model_validate(_example(q)) for q in QUESTIONS], smollm2, folder,
        TrainSettings(max_steps=14, learning_rate=2e-3, save_steps=6), system_prompt=SYSTEM,
        progress=lambda step, total, loss: steps.append((step, total, loss)))
    assert Path(result.resumed_from).name == "checkpoint-12"
    assert result.steps == 14 and [s for s, _, _ in steps] == [13, 13, 14, 14]
    assert all(total == 14 and loss is not None for _, total, loss in steps[1:])


def test_running_out_of_memory_is_a_hint_not_a_traceback(smollm2, tmp_path):
    def exhausted(*_):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(FinetuneError, match=r"ran out of memory.*--batch-size 2.*--max-length 128.*4-bit"):
        train([Example.model_validate(_example(QUESTIONS[0]))], smollm2, tmp_path,
              TrainSettings(max_steps=2, max_length=256), progress=exhausted)


def test_an_empty_training_split_is_refused_before_loading_anything(smollm2, tmp_path):
    with pytest.raises(FinetuneError, match="no training examples"):
        train([Example.model_validate(_example(QUESTIONS[0], "eval"))], smollm2, tmp_path)


def test_an_adapter_trained_on_another_base_is_refused(trained_guild, smollm2, tmp_path):
    adapter = Path(load_config(trained_guild).model_for("vault").adapter)
    other_base = tmp_path / "other.gguf"
    other_base.write_bytes(smollm2.read_bytes()[:-1] + b"\0")  # same shapes, other weights
    with pytest.raises(AdapterMismatch, match="trained on another base"):
        EmbeddedEngine(other_base).register_adapter(adapter)  # the hash the adapter records
    with pytest.raises(AdapterMismatch, match=r"serve it on the base it was trained on"):
        EmbeddedEngine(smollm2).register_adapter(adapter, base_sha256="0" * 64)  # the guild file's


def test_training_renders_conversations_exactly_as_the_engine_serves_them(engine, smollm2):
    import httpx

    _, tokenizer = load_base(smollm2)
    row = prompt_completion(Example.model_validate(_example(QUESTIONS[0])), SYSTEM)
    served = httpx.post(f"{engine.server.listening_address}/apply-template", json={"messages": row["prompt"]},
                        timeout=30).json()["prompt"]
    trained_prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    trained_whole = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    assert trained_prompt == served
    assert trained_whole == served + ANSWER + "<|im_end|>\n"  # the answer, then the end of turn


def test_examples_whose_answer_does_not_fit_are_a_clear_error(smollm2, tmp_path):
    with pytest.raises(FinetuneError, match="fits in --max-length 16"):
        train([Example.model_validate(_example(QUESTIONS[0]))], smollm2, tmp_path,
              TrainSettings(max_steps=1, max_length=16), system_prompt=SYSTEM)


def test_by_default_no_example_is_cut_and_a_shorter_max_length_says_how_many_it_cuts(smollm2, tmp_path):
    long = _example(f"{QUESTIONS[0]} {'Please answer precisely. ' * 20}")  # ~125 tokens, the other ~45
    examples = [Example.model_validate(row) for row in (_example(QUESTIONS[1]), long)]
    fitted = train(examples, smollm2, tmp_path / "fitted", TrainSettings(max_steps=1), system_prompt=SYSTEM)
    cut = train(examples, smollm2, tmp_path / "cut", TrainSettings(max_steps=1, max_length=80), system_prompt=SYSTEM)
    assert (fitted.cut, cut.cut) == (0, 1)
    recorded = json.loads((tmp_path / "fitted" / "training.json").read_text())["settings"]["max_length"]
    assert recorded > 120  # the longest example's length
