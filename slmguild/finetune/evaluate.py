"""Before/after evaluation of an expert's adapter: the expert's own work, without and with it.

Three measures, each on questions the adapter was not trained on, each run twice by the
same served base (without, then with the adapter), with greedy decoding:

- **answers**: held-out questions asked of the expert through the guild — its own search,
  its tool phase and its answer flow, as served — and scored as `slmguild eval --answers`
  scores them (`correct`: every key fact stated; answers with unsupported figures);
- **tool phase**: labelled requests through the expert's tool decisions with
  `tool_choice: model` (the model decides whether to call, without the nearest-example
  rule, so that what the adapter learnt shows): right tool, right arguments, false calls;
- **control**: off-domain questions asked of the expert's model directly, under its
  system prompt: of those the base answered right, the share the adapter keeps right.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from slmguild.config import GuildConfig, ModelSpec
from slmguild.evaluation import (
    AnswerReport,
    ReferenceQuestion,
    answer_quality,
    contains_facts,
)
from slmguild.evaluation.tool_calls import ToolCase, ToolReport, run_tool_case
from slmguild.finetune.datasets import Example
from slmguild.finetune.training import conversation
from slmguild.knowledge import KnowledgeBase
from slmguild.orchestrator import Guild
from slmguild.serving import chat_model

Progress = Callable[[int, int], None]


@dataclass
class SideScores:
    """The expert's scores on one side: without or with the adapter."""

    answers: AnswerReport | None = None
    tools: ToolReport | None = None
    control: list[str] = field(default_factory=list)  # the control answers, in order


@dataclass
class GainReport:
    """Without vs with the adapter, on the held-out answers, tool cases and control questions."""

    expert: str
    before: SideScores
    after: SideScores
    control: list[Example] = field(default_factory=list)

    @property
    def control_right(self) -> list[bool]:
        """For each control question, whether the base answered it right."""
        return [contains_facts(answer, example.messages[-1].content)
                for answer, example in zip(self.before.control, self.control, strict=True)]

    @property
    def control_kept(self) -> float | None:
        """Of the control questions the base answered right, the share still right after."""
        kept = [contains_facts(answer, example.messages[-1].content)
                for answer, example, right in zip(self.after.control, self.control, self.control_right, strict=True)
                if right]
        return sum(kept) / len(kept) if kept else None


def adapter_gain(
    config: GuildConfig,
    expert: str,
    adapter: str,
    *,
    answers: Sequence[ReferenceQuestion] = (),
    tools: Sequence[ToolCase] = (),
    control: Sequence[Example] = (),
    progress: Progress | None = None,
) -> GainReport:
    """Measure `expert` without and with `adapter` (a GGUF LoRA path, or the adapter's
    name on its backend) on `answers`, `tools` and `control`.

    Every answer question and tool case goes to `expert` itself, not through the router:
    what is measured is the adapter, not routing.
    """
    total, done = 2 * (len(answers) + len(tools) + len(control)), 0

    def advance() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    report = GainReport(expert, SideScores(), SideScores(), list(control))
    knowledge = KnowledgeBase(config)  # one store and embedder for both sides
    for side, served in ((report.before, None), (report.after, adapter)):
        spec = _greedy(config.model_for(expert), served)
        guild = Guild(_with_model(config, expert, spec), knowledge=knowledge)
        if answers:
            side.answers = answer_quality(guild, answers, expert=expert, progress=lambda *_: advance())
        if tools:
            # The model decides: the nearest-example rule would hide what the adapter learnt.
            member = dataclasses.replace(guild.expert(expert), tool_choice="model")
            side.tools = ToolReport([])
            for case in tools:
                side.tools.outcomes.append(asyncio.run(run_tool_case(member, case)))
                advance()
        side.control = _answer_directly(chat_model(spec, config.engine), control,
                                        config.experts[expert].system_prompt, advance)
    return report


def _greedy(spec: ModelSpec, adapter: str | None) -> ModelSpec:
    """`spec` decoding greedily (so that the two sides compare), with `adapter` or none."""
    generation = spec.generation.model_copy(update={"temperature": 0.0, "seed": 0}) if spec.generation else None
    fields = {**spec.model_dump(), "generation": generation and generation.model_dump(), "adapter": adapter}
    if adapter != spec.adapter:
        fields["adapter_base"] = None  # the hash recorded for the guild's own adapter
    return ModelSpec.model_validate(fields)


def _with_model(config: GuildConfig, expert: str, spec: ModelSpec) -> GuildConfig:
    copy = config.model_copy(deep=True)
    copy.experts[expert].model = spec
    return copy


def _answer_directly(model: BaseChatModel, questions: Sequence[Example], system_prompt: str,
                     advance: Callable[[], None]) -> list[str]:
    """The model's answers to `questions`, each asked alone under the expert's system prompt
    (off-domain questions: this is how the served expert meets them, without its notes)."""
    answers = []
    for example in questions:
        messages = conversation(example, system_prompt)[:-1]
        answers.append(model.invoke(messages).text.strip())
        advance()
    return answers
