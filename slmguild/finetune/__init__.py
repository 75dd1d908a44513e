"""Fine-tuning: from a domain's data to a served, measured adapter for its expert.

- `datasets`: read (chat, ShareGPT, alpaca), validate, dedupe, split, synthesize;
- `expert_work`: rows that are an expert's own work (grounded answers from its search,
  tool steps), in the prompts it is served with;
- `training`: LoRA (CPU) / QLoRA (CUDA) with transformers + peft + trl, on the
  serving model's chat template, loss on answers only (needs `slmguild[finetune]`);
- `export`: the GGUF LoRA llama.cpp loads, and an Ollama Modelfile;
- `publish`: an expert's adapter files, and registering an adapter in the guild file;
- `evaluate`: the expert without vs with its adapter: grounded answers and tool decisions on
  held-out questions, control questions kept right (`slmguild.evaluation`'s measures);
- `router_encoder`: a copy of the sentence encoder tuned on the routing exemplars, exported
  as int8 ONNX for the trained router (`slmguild router train --tune-encoder`).

Only `training`, `router_encoder` (and `export`, which reads the trained tensors) need
torch; it is imported when they run.
"""

from slmguild.finetune.datasets import (
    DatasetError,
    Example,
    assign_splits,
    dedupe,
    load_examples,
    synthesize,
    write_examples,
)
from slmguild.finetune.evaluate import GainReport, SideScores, adapter_gain
from slmguild.finetune.export import ExportError, export_gguf_lora, write_modelfile
from slmguild.finetune.publish import (
    AdapterFiles,
    export_adapter,
    register_adapter,
    serving_base,
)
from slmguild.finetune.router_encoder import EncoderTuning, tune_encoder
from slmguild.finetune.training import FinetuneError, TrainResult, TrainSettings, train

__all__ = [
    "AdapterFiles",
    "DatasetError",
    "EncoderTuning",
    "Example",
    "ExportError",
    "FinetuneError",
    "GainReport",
    "SideScores",
    "TrainResult",
    "TrainSettings",
    "adapter_gain",
    "assign_splits",
    "dedupe",
    "export_adapter",
    "export_gguf_lora",
    "load_examples",
    "register_adapter",
    "serving_base",
    "synthesize",
    "train",
    "tune_encoder",
    "write_examples",
    "write_modelfile",
]
