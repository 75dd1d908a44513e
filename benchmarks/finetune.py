"""Fine-tuning and adapter serving, measured on this machine (CPU, SmolLM2-135M).

    python benchmarks/finetune.py [--parts speed,serving,gain] [--epochs 5] [--lr 1e-3]

- speed: seconds per step and peak memory of LoRA training at sequence length 256
  (batch 4; gradient checkpointing off and on), each in a fresh process;
- serving: resident memory of one base with 3 adapters vs 3 separate models (copies of
  the base file: a merged model has the base's size) in the embedded engine, each in a
  fresh process; and the latency of a request with no adapter loaded, with 3 loaded
  and none selected, and with one of them selected (interleaved, greedy, 32 tokens);
- gain: each example expert's adapter trained on its dataset (train split, under its
  system prompt, like `slmguild finetune train`), then scored before vs after on its
  held-out split and on the control questions (like `slmguild finetune eval`).

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


def part_gain(epochs: float, learning_rate: float, only: list[str]) -> None:
    from slmguild.config import load_config
    from slmguild.finetune import load_examples

    config = load_config(GUILD)
    control = load_examples(GUILD.parent / "finetune/control.jsonl")
    print(f"\nAdapter gain, {epochs:g} epochs at lr {learning_rate:g} (r=16, batch 4, CPU); greedy decoding;"
          " held-out: 12 paraphrased questions per expert; control: 22 off-domain questions\n")
    print("| expert | steps | s/step | held-out contains | held-out ROUGE-L | control contains | control kept |")
    print("|---|---|---|---|---|---|---|")
    # One folder for every expert's adapter: the process-wide engine keeps each adapter it
    # loaded, and restarts with all of them when the next one is registered.
    with tempfile.TemporaryDirectory() as scratch:
        for name, expert in config.experts.items():
            if only and name not in only:
                continue
            _gain_row(name, expert, config, control, Path(scratch) / name, epochs, learning_rate)


def _gain_row(
    name: str, expert: Any, config: Any, control: list, out: Path, epochs: float, learning_rate: float
) -> None:
    from slmguild.config import Generation
    from slmguild.finetune import TrainSettings, evaluate, load_examples, train
    from slmguild.finetune.export import export_gguf_lora
    from slmguild.serving import chat_model
    from slmguild.serving.adapters import file_sha256

    examples = load_examples(GUILD.parent / f"finetune/{name}.jsonl")
    result = train(examples, _base(), out, TrainSettings(epochs=epochs, learning_rate=learning_rate),
                   system_prompt=expert.system_prompt, resume=False, progress=lambda *_: None)
    adapter = export_gguf_lora(result.adapter_dir, _base(), out / "adapter.gguf", file_sha256(_base()))
    greedy = Generation(temperature=0, max_tokens=96, seed=0, repeat_penalty=1.1)
    spec = config.model_for(name).model_copy(update={"generation": greedy})
    report = evaluate(chat_model(spec), chat_model(spec.model_copy(update={"adapter": str(adapter)})),
                      examples, control=control, system_prompt=expert.system_prompt)
    print(f"| {name} | {result.steps} | {result.seconds_per_step:.1f} "
          f"| {report.before.contains:.2f} → {report.after.contains:.2f} "
          f"| {report.before.rouge_l:.2f} → {report.after.rouge_l:.2f} "
          f"| {report.control_before.contains:.2f} → {report.control_after.contains:.2f} "
          f"| {report.control_kept:.2f} |", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        children = {"speed": child_speed, "memory": child_memory}
        print(json.dumps(children[sys.argv[2]](*sys.argv[3:])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="speed,serving,gain", help="comma-separated parts to run")
    parser.add_argument("--epochs", type=float, default=5, help="gain: training epochs per expert")
    parser.add_argument("--lr", type=float, default=1e-3, help="gain: learning rate")
    parser.add_argument("--experts", default="", help="gain: comma-separated experts (default: all)")
    parser.add_argument("--turns", type=int, default=30, help="serving: timed requests per case")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "speed" in parts:
        part_speed()
    if "serving" in parts:
        part_serving(args.turns)
    if "gain" in parts:
        part_gain(args.epochs, args.lr, [name for name in args.experts.split(",") if name])


if __name__ == "__main__":
    main()
