"""LoRA training with transformers + peft + trl: QLoRA on CUDA, plain LoRA on CPU.

The base is a Hugging Face model directory or the very GGUF an expert serves
(dequantized by transformers), so that the adapter fits the weights it will run on.
Conversations are rendered with the serving model's chat template and the loss is
computed on the answers only (trl's prompt-completion format). Checkpoints are saved
as training goes, and a run started again resumes from the last one.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmguild.errors import SlmguildError, require
from slmguild.finetune.datasets import Example

Progress = Callable[[int, int, float | None], None]  # (step, total steps, last loss)


class FinetuneError(SlmguildError):
    """Training that cannot start or did not finish (no data, out of memory, bad base)."""


class TrainSettings(BaseModel):
    """LoRA hyperparameters and the training loop's settings; defaults fit a small model."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(16, ge=1, le=512)
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    targets: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    learning_rate: float = Field(2e-4, gt=0)
    epochs: float = Field(1, gt=0)
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps (overrides epochs)")
    max_length: int | None = Field(
        None, ge=16, description="Tokens per example; longer ones are cut, and their answers not "
        "learnt (None: the longest example's length)"
    )
    batch_size: int = Field(4, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    gradient_checkpointing: bool = Field(False, description="Less memory (~1/3 less), ~12% slower")
    save_steps: int = Field(50, ge=1, description="Checkpoint every this many steps")
    seed: int = 0
    quantize: Literal["auto", "4bit", "none"] = Field(
        "auto", description="auto: 4-bit QLoRA on CUDA when bitsandbytes is installed "
        "(slmguild[qlora]), else full precision (bf16 on CUDA, fp32 on CPU)"
    )


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced and what it cost."""

    adapter_dir: Path  # the PEFT adapter (adapter_config.json, adapter_model.safetensors)
    base: Path
    device: str
    quantized: bool
    steps: int
    seconds: float
    seconds_per_step: float
    final_loss: float | None
    peak_memory_bytes: int  # peak RSS on CPU, peak allocated VRAM on CUDA
    resumed_from: str | None
    cut: int = 0  # training examples longer than max_length: cut at it


def conversation(example: Example, system_prompt: str | None) -> list[dict[str, str]]:
    """An example as the expert is asked it: under the expert's system prompt, unless
    the example brings its own."""
    messages = [message.model_dump() for message in example.messages]
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def prompt_completion(example: Example, system_prompt: str | None) -> dict[str, list[dict[str, str]]]:
    """trl's conversational prompt-completion row: loss on the final answer only."""
    messages = conversation(example, system_prompt)
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def load_base(base: Path, quantized: bool = False, device: str = "cpu") -> tuple[Any, Any]:
    """The model and tokenizer of a base: an HF directory or a GGUF file (dequantized).

    A GGUF brings its own chat template, the one llama.cpp serves it with.
    """
    torch = require("torch", "finetune")
    transformers = require("transformers", "finetune")
    location = {"pretrained_model_name_or_path": base.parent, "gguf_file": base.name} if base.is_file() \
        else {"pretrained_model_name_or_path": base}
    quantization: dict[str, Any] = {}
    if quantized:
        require("bitsandbytes", "qlora")
        if base.is_file():
            base = materialize(base)
            location = {"pretrained_model_name_or_path": base}
        quantization["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(**location)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            **location, dtype=torch.bfloat16 if device == "cuda" else torch.float32, **quantization
        )
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"cannot load the base {base}: {exc}") from None
    if base.is_file():
        # Dequantized GGUF weights are plain tensors: drop the GGUF "quantizer" so the
        # trainer and save_pretrained treat the model as the full-precision one it is.
        model.hf_quantizer.remove_quantization_config(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def materialize(gguf_path: Path) -> Path:
    """The GGUF base saved once as an HF directory (bitsandbytes quantizes only those)."""
    from slmguild.paths import home
    from slmguild.serving.adapters import file_sha256

    target = home() / "finetune" / "bases" / file_sha256(gguf_path)[:16]
    if not (target / "config.json").is_file():
        model, tokenizer = load_base(gguf_path)
        draft = target.with_name(target.name + ".partial")
        model.save_pretrained(draft)
        tokenizer.save_pretrained(draft)
        draft.replace(target)
    return target


def train(
    examples: Sequence[Example],
    base: Path,
    out_dir: Path,
    settings: TrainSettings | None = None,
    *,
    system_prompt: str | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> TrainResult:
    """Train a LoRA adapter on the `train` split of `examples`; save it in `out_dir/peft`.

    Checkpoints go to `out_dir/checkpoints`; with `resume`, a run that was stopped goes
    on from its last checkpoint with the same settings. `progress` is called after each
    step with the step, the total and the last logged loss.
    """
    settings = settings or TrainSettings()
    rows = [prompt_completion(e, system_prompt) for e in examples if e.split in (None, "train")]
    if not rows:
        raise FinetuneError("the dataset has no training examples (split 'train' or none)")
    # Bases are local files: never ask the Hugging Face Hub anything (peft looks there
    # for a base config when it saves), so that training is the same offline.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch = require("torch", "finetune")
    transformers = require("transformers", "finetune")
    trl = require("trl", "finetune")
    peft = require("peft", "finetune")
    datasets = require("datasets", "finetune")

    device = "cuda" if torch.cuda.is_available() else "cpu"
    quantized = settings.quantize == "4bit" or (
        settings.quantize == "auto" and device == "cuda" and importlib.util.find_spec("bitsandbytes") is not None
    )
    transformers.set_seed(settings.seed)
    model, tokenizer = load_base(base, quantized=quantized, device=device)
    lengths = [len(tokenizer(tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False),
                             add_special_tokens=False).input_ids) for row in rows]
    # By default nothing is cut (a few tokens spare for what the trainer may add, an EOS).
    max_length = settings.max_length or max(lengths) + 8
    settings = settings.model_copy(update={"max_length": max_length})
    checkpoints = out_dir / "checkpoints"
    steps = settings.max_steps or math.ceil(
        settings.epochs * math.ceil(len(rows) / settings.batch_size) / settings.gradient_accumulation
    )
    config = trl.SFTConfig(
        output_dir=str(checkpoints),
        max_steps=steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        learning_rate=settings.learning_rate,
        max_length=settings.max_length,
        activation_checkpointing=settings.gradient_checkpointing,  # trl's default is on
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=1,
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=device == "cuda",
        use_cpu=device == "cpu",
        report_to=[],
        disable_tqdm=progress is not None,
    )
    lora = peft.LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=list(settings.targets), task_type="CAUSAL_LM",
    )
    trainer = trl.SFTTrainer(
        model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer, peft_config=lora,
        callbacks=[_progress_callback(progress, transformers)] if progress else None,
    )
    if len(trainer.train_dataset) == 0:  # trl drops examples whose answer was truncated away
        raise FinetuneError(
            f"no example's answer fits in --max-length {settings.max_length} tokens after its prompt: "
            "raise it, or shorten the system prompt and questions"
        )
    if progress is not None:  # the caller shows progress: no log dicts printed on stdout
        trainer.remove_callback(transformers.PrinterCallback)
    last = transformers.trainer_utils.get_last_checkpoint(str(checkpoints)) if resume and checkpoints.is_dir() else None
    started = time.perf_counter()
    peak = _peak_memory(torch, device)
    with warnings.catch_warnings():
        # A GGUF base has no config.json for peft to compare vocabularies with when it
        # saves; the vocabulary is never changed here, so its warning says nothing.
        warnings.filterwarnings("ignore", message="Could not find a config file", module="peft")
        try:
            output = trainer.train(resume_from_checkpoint=last)
        except (torch.OutOfMemoryError, MemoryError) as exc:
            raise FinetuneError(_out_of_memory_hint(settings, device, exc)) from None
        seconds = time.perf_counter() - started
        adapter_dir = out_dir / "peft"
        trainer.model.save_pretrained(adapter_dir)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    done = output.global_step - (int(Path(last).name.split("-")[-1]) if last else 0)
    result = TrainResult(
        adapter_dir=adapter_dir, base=base, device=device, quantized=quantized, steps=output.global_step,
        seconds=seconds, seconds_per_step=seconds / max(done, 1), final_loss=losses[-1] if losses else None,
        peak_memory_bytes=peak(), resumed_from=last, cut=sum(length > max_length for length in lengths),
    )
    (out_dir / "training.json").write_text(
        json.dumps({"settings": settings.model_dump(), "result": asdict(result), "examples": len(rows)},
                   default=str, indent=2),
        encoding="utf-8",
    )
    return result


def _out_of_memory_hint(settings: TrainSettings, device: str, exc: BaseException) -> str:
    smaller = f"--batch-size {max(settings.batch_size // 2, 1)} --gradient-accumulation " \
              f"{settings.gradient_accumulation * 2}, --max-length {max((settings.max_length or 32) // 2, 16)}"
    extra = ", --gradient-checkpointing" if not settings.gradient_checkpointing else ""
    four_bit = " or 4-bit QLoRA on a CUDA GPU (--quantize 4bit)" if device == "cpu" else ""
    return f"training ran out of memory on {device} ({type(exc).__name__}): try {smaller}{extra}{four_bit}"


def _progress_callback(progress: Progress, transformers: Any) -> Any:
    """A trainer callback that reports each step and the latest loss to `progress`."""

    class ProgressCallback(transformers.TrainerCallback):
        loss: float | None = None

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **_: Any) -> None:
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])
                progress(state.global_step, state.max_steps, self.loss)

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            progress(state.global_step, state.max_steps, self.loss)

    return ProgressCallback()


def _peak_memory(torch: Any, device: str) -> Callable[[], int]:
    """A reading of peak memory from now on: allocated VRAM on CUDA, the process's RSS on CPU."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.max_memory_allocated
    import resource

    return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
