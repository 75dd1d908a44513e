"""Fine-tuning and adapter serving, measured on this machine (CPU, SmolLM2-135M).

    python benchmarks/finetune.py [--parts speed,serving,gain] [--epochs 1 | --steps N] [--experts it,hr]
                                  [--document-questions]

- speed: seconds per step and peak memory of LoRA training at sequence length 256
  (batch 4; gradient checkpointing off and on), each in a fresh process;
- serving: resident memory of one base with 3 adapters vs 3 separate models (copies of
  the base file: a merged model has the base's size) in the embedded engine, each in a
  fresh process; and the latency of a request with no adapter loaded, with 3 loaded
  and none selected, and with one of them selected (interleaved, greedy, 32 tokens);
- gain: each example expert's adapter trained on its own work (like `slmguild finetune
  data work` then `finetune train`; with `--document-questions`, also on the questions
  `finetune data questions` writes), then measured without vs with it on held-out
  questions and requests it was not trained on, and on control questions (like
  `slmguild finetune eval`).

Needs `pip install -e '.[finetune]'` and `slmguild models pull smollm2-135m-instruct`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GUILD = ROOT / "examples/acme/guild.yaml"
QUESTIONS = ("answers_dev.jsonl", "finetune/{expert}.jsonl")  # what an expert's adapter is trained on
HELD_OUT_ANSWERS, HELD_OUT_TOOLS = "answers_heldout.jsonl", "tool_prompts_heldout3.jsonl"  # never trained on
MAX_LENGTH = 768  # tokens: a tool step's prompt (schema and demonstrations) is ~600
FILLER = "Please read this carefully. "  # ~5 tokens: a prompt of ~100, an answer truncated at 256


def _base() -> Path:
    from slmguild.serving.catalog import gguf_path

    return gguf_path("smollm2-135m-instruct")


def _in_fresh_process(part: str, *args: str) -> dict:
    """Run one measurement in a new interpreter (peak memory is per process)."""
    output = subprocess.run([sys.executable, __file__, "--child", part, *args], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# -- children: one measurement each ---------------------------------------------------

def child_speed(checkpointing: str) -> dict:
    from slmguild.finetune import Example, TrainSettings, train

    example = Example.model_validate({"messages": [{"role": "user", "content": FILLER * 20},
                                                   {"role": "assistant", "content": FILLER * 60}]})
    settings = TrainSettings(max_steps=6, max_length=256, batch_size=4,
                             gradient_checkpointing=checkpointing == "on")
    with tempfile.TemporaryDirectory() as out:
        result = train([example] * 24, _base(), Path(out), settings, resume=False, progress=lambda *_: None)
    return {"s_per_step": result.seconds_per_step, "peak_gib": result.peak_memory_bytes / 2**30}


def child_memory(layout: str, adapters: str) -> dict:
    import psutil

    from slmguild.serving.engine import EmbeddedEngine

    paths = [Path(p) for p in adapters.split(",")]
    request = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8, "temperature": 0}
    if layout == "shared":
        engine = EmbeddedEngine(_base())
        for path in paths:
            engine.register_adapter(path)
        for path in paths:
            engine.chat({**request, "lora": engine.lora_scales(path)})
    else:
        with tempfile.TemporaryDirectory() as scratch:
            engines = []
            for index in range(len(paths)):
                copy = Path(scratch) / f"merged{index}.gguf"
                shutil.copy(_base(), copy)
                engines.append(EmbeddedEngine(copy))
            for engine in engines:
                engine.chat(request)
            return {"rss_gib": psutil.Process().memory_info().rss / 2**30}
    return {"rss_gib": psutil.Process().memory_info().rss / 2**30}


# -- parts ----------------------------------------------------------------------------

def part_speed() -> None:
    print("\nLoRA training on CPU, SmolLM2-135M, batch 4, sequence length 256 (fp32, r=16, q/k/v/o)\n")
    print("| gradient checkpointing | s/step | peak RSS GiB |")
    print("|---|---|---|")
    for setting in ("off", "on"):
        measured = _in_fresh_process("speed", setting)
        print(f"| {setting} | {measured['s_per_step']:.2f} | {measured['peak_gib']:.2f} |")


def _random_adapters(folder: Path, count: int) -> list[Path]:
    """`count` rank-16 q/k/v/o adapters for the base, written by the real exporter."""
    import torch
    from peft import LoraConfig, get_peft_model

    from slmguild.finetune import export_gguf_lora
    from slmguild.finetune.training import load_base

    model, _ = load_base(_base())
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"))
    paths = []
    for index in range(count):
        torch.manual_seed(index)
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # non-zero, so that each adapter really changes the output
                torch.nn.init.normal_(parameter, std=0.01)
        peft_model.save_pretrained(folder / f"peft{index}")
        paths.append(export_gguf_lora(folder / f"peft{index}", _base(), folder / f"adapter{index}.gguf"))
    return paths


def part_serving(turns: int) -> None:
    from slmguild.serving.engine import EmbeddedEngine

    with tempfile.TemporaryDirectory() as scratch:
        adapters = _random_adapters(Path(scratch), 3)
        size = sum(path.stat().st_size for path in adapters) / 2**20
        joined = ",".join(map(str, adapters))
        shared = _in_fresh_process("memory", "shared", joined)["rss_gib"]
        separate = _in_fresh_process("memory", "separate", joined)["rss_gib"]
        print(f"\nResident memory, embedded engine, 3 experts (3 adapters: {size:.1f} MiB on disk)\n")
        print("| layout | RSS GiB |")
        print("|---|---|")
        print(f"| one base + 3 adapters, chosen per request | {shared:.2f} |")
        print(f"| 3 separate models (merged-size copies) | {separate:.2f} |")
        print(f"| ratio | {separate / shared:.2f}x |")

        plain, loaded = EmbeddedEngine(_base()), EmbeddedEngine(_base())
        for path in adapters:
            loaded.register_adapter(path)
        request = {"messages": [{"role": "user", "content": "What is the capital of France?"}],
                   "max_tokens": 32, "temperature": 0, "ignore_eos": True}
        cases = {
            "no adapter loaded": lambda: plain.chat(request),
            "3 loaded, none selected": lambda: loaded.chat({**request, "lora": loaded.lora_scales(None)}),
            "3 loaded, one selected": lambda: loaded.chat({**request, "lora": loaded.lora_scales(adapters[0])}),
        }
        times: dict[str, list[float]] = {case: [] for case in cases}
        for run in cases.values():
            run()  # start the engines
        for _ in range(turns):  # interleaved, so that noise hits every case alike
            for case, run in cases.items():
                started = time.perf_counter()
                run()
                times[case].append(time.perf_counter() - started)
        plain.stop()
        loaded.stop()
    reference = statistics.median(times["no adapter loaded"])
    print(f"\nLatency of a request (32 tokens generated, greedy, {turns} runs each, interleaved)\n")
    print("| case | p50 ms | vs no adapter |")
    print("|---|---|---|")
    for case, values in times.items():
        p50 = statistics.median(values)
        print(f"| {case} | {p50 * 1000:.0f} | {p50 / reference:.2f}x |")


def part_gain(epochs: float, max_steps: int | None, only: list[str], document_questions: bool) -> None:
    from slmguild.config import load_config
    from slmguild.evaluation import reference_rows
    from slmguild.evaluation.data import read_jsonl
    from slmguild.evaluation.tool_calls import tool_case_rows
    from slmguild.finetune import load_examples
    from slmguild.orchestrator import load_guild

    config, guild = load_config(GUILD), load_guild(GUILD)
    rows = {name: read_jsonl(GUILD.parent / name, ["expert"]) for name in (HELD_OUT_ANSWERS, HELD_OUT_TOOLS)}
    control = load_examples(GUILD.parent / "finetune/control.jsonl")
    length = f"{epochs:g} epochs" if max_steps is None else f"{max_steps} steps"
    generated = " + the documents' questions (`finetune data questions`)" if document_questions else ""
    print(f"\nAdapter gain: each expert's adapter trained on its own work (`finetune data work` on "
          f"{' + '.join(QUESTIONS)}{generated}: grounded answers "
          f"and tool steps), {length}, r=16, batch 4, sequence length "
          f"{MAX_LENGTH}, CPU; greedy decoding; held out: {HELD_OUT_ANSWERS} and {HELD_OUT_TOOLS} (the expert's "
          f"rows, tool_choice: model), {len(control)} off-domain control questions\n")
    print("| expert | rows | steps | s/step | peak RSS GiB (the run so far) | answers correct | unsupported | drafts shown (without the key facts) "
          "| right tool | right tool and arguments | false calls | control kept |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    # One folder for every expert's adapter: the process-wide engine keeps each adapter it
    # loaded, and restarts with all of them when the next one is registered.
    with tempfile.TemporaryDirectory() as scratch:
        for name in config.experts:
            if only and name not in only:
                continue
            answers = reference_rows([row for row in rows[HELD_OUT_ANSWERS] if row["expert"] == name])
            tools = [case for case in tool_case_rows(rows[HELD_OUT_TOOLS]) if case.expert == name]
            _gain_row(name, guild.expert(name), config, (answers, tools, control), Path(scratch) / name,
                      epochs, max_steps, document_questions)


def _gain_row(
    name: str, expert: Any, config: Any, held_out: tuple, out: Path, epochs: float, max_steps: int | None,
    document_questions: bool,
) -> None:
    from slmguild.evaluation import draft_counts
    from slmguild.evaluation.data import read_jsonl
    from slmguild.finetune import TrainSettings, adapter_gain, train
    from slmguild.finetune.document_questions import chunk_questions
    from slmguild.finetune.expert_work import expert_work, questions_from_rows
    from slmguild.finetune.export import export_gguf_lora
    from slmguild.serving.adapters import file_sha256

    asked = [q for file in QUESTIONS
             for q in questions_from_rows(read_jsonl(GUILD.parent / file.format(expert=name), []), name)]
    if document_questions:  # as `finetune data questions` writes them
        asked += chunk_questions(expert.knowledge.base.document_chunks(name))
    # With `finetune data work`'s defaults: the questions of a fifth of the documents are
    # its eval split, not trained on.
    examples = expert_work(expert, asked).examples
    settings = TrainSettings(epochs=epochs, max_steps=max_steps, max_length=MAX_LENGTH)
    result = train(examples, _base(), out, settings, resume=False, progress=lambda *_: None)
    adapter = export_gguf_lora(result.adapter_dir, _base(), out / "adapter.gguf", file_sha256(_base()))
    answers, tools, control = held_out
    report = adapter_gain(config, name, str(adapter), answers=answers, tools=tools, control=control)
    before, after = report.before, report.after

    def tool_cell(measure: str, total: int) -> str:
        return f"{getattr(before.tools, measure)} → {getattr(after.tools, measure)} of {total}"

    drafts = [draft_counts(side.answers.answered) for side in (before, after)]
    kept = report.control_kept
    print(f"| {name} | {sum(e.split != 'eval' for e in examples)} | {result.steps} | {result.seconds_per_step:.1f} "
          f"| {result.peak_memory_bytes / 2**30:.1f} "
          f"| {before.answers.correct:.3f} → {after.answers.correct:.3f} "
          f"| {before.answers.unsupported:.1%} → {after.answers.unsupported:.1%} "
          f"| {' → '.join(f'{counts.shown} ({counts.shown_without_keys})' for counts in drafts)} "
          f"| {tool_cell('right_tool', len(before.tools.needing))} "
          f"| {tool_cell('right_arguments', len(before.tools.needing))} "
          f"| {tool_cell('false_calls', len(before.tools.needing_none))} "
          f"| {'-' if kept is None else f'{kept:.0%}'} of {sum(report.control_right)} |", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        children = {"speed": child_speed, "memory": child_memory}
        print(json.dumps(children[sys.argv[2]](*sys.argv[3:])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="speed,serving,gain", help="comma-separated parts to run")
    parser.add_argument("--epochs", type=float, default=1, help="gain: training epochs per expert")
    parser.add_argument("--steps", type=int, default=None, help="gain: training steps per expert (instead of epochs)")
    parser.add_argument("--experts", default="", help="gain: comma-separated experts (default: all)")
    parser.add_argument("--document-questions", action="store_true",
                        help="gain: also train on the questions `finetune data questions` writes")
    parser.add_argument("--turns", type=int, default=30, help="serving: timed requests per case")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "speed" in parts:
        part_speed()
    if "serving" in parts:
        part_serving(args.turns)
    if "gain" in parts:
        part_gain(args.epochs, args.steps, [name for name in args.experts.split(",") if name],
                  args.document_questions)


if __name__ == "__main__":
    main()
