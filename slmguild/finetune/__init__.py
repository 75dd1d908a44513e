"""Fine-tuning: datasets (build, synthesize, split) for each expert's adapter.

Training, export and evaluation are the next steps of this package (see the README's
status); the dataset tools work on their own.
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

__all__ = [
    "DatasetError", "Example", "assign_splits", "dedupe", "load_examples", "synthesize", "write_examples",
]
