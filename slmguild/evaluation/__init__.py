"""Evaluation: numbers for what a guild does, on data that ships with it.

- `routing`: accuracy of the router on labelled requests;
- `retrieval`: recall@k and MRR of each expert's search on questions with a known source;
- `answers`: answer quality end to end, by the key facts stated (`correct`), unsupported
  figures, latency, exact/contains match, ROUGE-L, BLEU and an
  optional judge model (`judge`) — the metrics live in `metrics` — and how the grounded
  answer's check judged the drafts (`draft_counts`);
- `tool_calls`: an expert's tool decisions on labelled requests (right tool, right
  arguments, false calls).

`slmguild eval` prints them as a table (or JSON); the finetune module's before/after
and the scenarios' `judge` expectation use the same metrics and judge. ROUGE and BLEU
need `slmguild[eval]` (rouge-score, sacrebleu).
"""

from slmguild.evaluation.answers import (
    AnsweredQuestion,
    AnswerReport,
    DraftCounts,
    ReferenceQuestion,
    answer_quality,
    ask,
    draft_counts,
    reference_rows,
    summarize,
)
from slmguild.evaluation.judge import FACTS_RUBRIC, Judge, Rating
from slmguild.evaluation.metrics import (
    AnswerScores,
    bleu,
    contains_facts,
    has_keys,
    key_facts,
    rouge_l,
    score_answers,
)
from slmguild.evaluation.retrieval import (
    RetrievalReport,
    SourcedQuestion,
    retrieval_quality,
    source_rank,
    sourced_rows,
)
from slmguild.evaluation.routing import (
    Labelled,
    RoutingReport,
    labelled_rows,
    routing_accuracy,
)

__all__ = [
    "FACTS_RUBRIC",
    "AnswerReport",
    "AnswerScores",
    "AnsweredQuestion",
    "DraftCounts",
    "Judge",
    "Labelled",
    "Rating",
    "ReferenceQuestion",
    "RetrievalReport",
    "RoutingReport",
    "SourcedQuestion",
    "answer_quality",
    "ask",
    "bleu",
    "contains_facts",
    "draft_counts",
    "has_keys",
    "key_facts",
    "labelled_rows",
    "reference_rows",
    "retrieval_quality",
    "rouge_l",
    "routing_accuracy",
    "score_answers",
    "source_rank",
    "sourced_rows",
    "summarize",
]
