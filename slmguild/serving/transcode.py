"""Re-encode a GGUF model's weights as Q8_0, the quantization llama.cpp evaluates prompts fastest on a CPU.

The default chat model ships as Q4_1. Measured on a 2-core x86 machine (docs/performance.md,
"Turns"), llama.cpp evaluates prompts ~1.5x faster from Q8_0 than from Q4_1 and generates
at the same speed; a small expert's turn is mostly prompt evaluation. Q8_0 keeps 8 bits
per weight where Q4_1 kept 4, so the re-encoded weights are Q4_1's to within ~1/230 of
each block's largest weight (half a Q8_0 step, and its scale's rounding): the same
model, not a new quantization of the original.

Uses `gguf` (llama.cpp's own Python package): every tensor is dequantized and the
matrices are quantized again; norms, biases and other 1-D tensors stay float32.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize, quantize

log = logging.getLogger("slmguild.serving")

SERVED_TYPE = GGMLQuantizationType.Q8_0
_FLOAT = {GGMLQuantizationType.F32, GGMLQuantizationType.F16}


def transcode_to_q8_0(source: Path, target: Path) -> Path:
    """Write `source`'s model to `target` with its quantized matrices re-encoded as Q8_0.

    Metadata (architecture, tokenizer, chat template) is copied unchanged. The file is
    written beside `target` and renamed into place when complete, so an interrupted
    run leaves nothing half-written. The output is the same bytes for the same input.
    """
    reader = GGUFReader(source)
    architecture = reader.fields["general.architecture"].contents()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".partial", delete=False) as partial:
        partial_path = Path(partial.name)
    try:
        writer = GGUFWriter(partial_path, architecture)
        for field in reader.fields.values():
            if field.name.startswith("GGUF.") or field.name == "general.architecture":
                continue  # written by the writer itself
            value_type = field.types[0]
            sub_type = field.types[-1] if value_type == GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
        for tensor in reader.tensors:
            if tensor.tensor_type in _FLOAT:  # norms, biases and any float matrix stay as they are
                writer.add_tensor(tensor.name, np.asarray(tensor.data))
                continue
            weights = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            encoded = quantize(weights, SERVED_TYPE)
            writer.add_tensor(tensor.name, encoded, raw_shape=encoded.shape, raw_dtype=SERVED_TYPE)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        partial_path.replace(target)
    finally:
        partial_path.unlink(missing_ok=True)
    log.info("re-encoded %s as Q8_0: %s", source.name, target)
    return target
