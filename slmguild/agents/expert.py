"""The Expert: one member of the guild and the loop that produces its answer.

An expert with knowledge first searches its documents; the chunks found go into the
question, under ids the answer cites (and that are cited for it when it forgets).
A turn with tools has two phases. First the model chooses its next step — answer, or
call one of its tools — as one small JSON object decoded under a schema (or through
the backend's native tool calling), shown the labelled requests most like the user's;
when the nearest of them is a tool call, that tool is called and the model only fills
in its arguments (`tool_choice: nearest`). The executor runs each call and the
observation goes back to the model, until it answers or runs out of steps. Then the
answer is generated as free text, with the tools' results in the question, so that it
streams.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from slmguild.agents.events import Handoff, Retrieved, StepTimed, ToolCall, ToolResult, engine_timings
from slmguild.agents.grounded import GroundedAnswerer, Grounding
from slmguild.concurrency import drive, relay
from slmguild.config import ModelSpec
from slmguild.knowledge import Hit, Retriever
from slmguild.knowledge.citations import context_block, missing_citation, source_id
from slmguild.serving import backend_errors
from slmguild.tools import AnswerStep, Demonstration, Demonstrations, Observation, StepParser, ToolExecutor
from slmguild.tools.grounding import supplied_values, ungrounded_arguments, with_iso_dates
from slmguild.tools.handoff import HANDOFF
from slmguild.tools.side_effects import changes_something, only_asks
from slmguild.tools.steps import StepError

UNGROUNDED = "these values do not appear in the conversation: "
ExpertEvent = AIMessageChunk | Retrieved | ToolCall | ToolResult | Handoff | Grounding | StepTimed
CITE = (
    "Answer from these excerpts of the documents. After each fact, cite its document's id "
    "in square brackets, like [{example}]. If the excerpts do not answer the question, say so."
)
Call = tuple[str | None, str, dict[str, Any]]  # (native call id, tool name, arguments)


@dataclass
class _Turn:
    """A turn's working state, shared by the tool phase and the answer."""

    question: str
    history: Sequence[BaseMessage]
    observations: list[Observation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    canned_answer: str | None = None  # set when the turn must end without generation
    handed_off: bool = False  # the turn went to another expert: this one does not answer

    def context(self) -> str:
        """What the user and the tools said: where a call's ids, numbers and dates must come from."""
        said = [m.text for m in self.history if m.type == "human"] + [self.question]
        return "\n".join(said + [obs.content for obs in self.observations if obs.status == "ok"])

    def already_ran(self, tool: str, arguments: dict[str, Any]) -> bool:
        """Whether this turn ran `tool` with these `arguments` (successfully or not)."""
        return any(
            obs.tool == tool and obs.arguments == arguments and obs.status in ("ok", "error")
            for obs in self.observations
        )


@dataclass
class Expert:
    """A domain expert: what it owns, how it is told to behave, its model and its tools."""

    name: str
    description: str
    system_prompt: str
    model: BaseChatModel
    spec: ModelSpec
    tools: list[BaseTool] = field(default_factory=list)
    executor: ToolExecutor | None = None
    tool_calling: Literal["native", "constrained"] = "constrained"
    tool_choice: Literal["nearest", "model"] = "nearest"
    max_steps: int = 4
    max_retries: int = 2
    demonstrations: Demonstrations | None = None  # default: the tools' examples, all shown
    knowledge: Retriever | None = None
    grounded: GroundedAnswerer | None = None  # None: the model answers freely (strategy generative)
    parser: StepParser = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parser = StepParser(self.tools)  # the step schema and prompt, built once
        if self.demonstrations is None:
            self.demonstrations = Demonstrations(self.tools)

    def messages(self, question: str, history: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
        """The conversation the model answers: system prompt, earlier turns, the question."""
        return [SystemMessage(self.system_prompt), *history, HumanMessage(question)]

    def retrieve(self, question: str) -> list[Hit]:
        """What the expert's documents say about `question` (nothing without knowledge)."""
        return self.knowledge.search(question) if self.knowledge is not None else []

    def stream(
        self, question: str, history: Sequence[BaseMessage] = (), *, hits: Sequence[Hit] | None = None
    ) -> Iterator[ExpertEvent]:
        """What the search found, tool calls and results, then the answer as it is generated.

        `hits` are the search's results when the caller searched already.
        """
        turn = _Turn(question, history)
        if self.knowledge is not None:
            started = time.perf_counter()
            turn.hits = list(hits) if hits is not None else self.knowledge.search(question)
            yield Retrieved(self.name, question, tuple(turn.hits))
            if hits is None:  # a caller that searched for it times its own search
                yield StepTimed(self.name, "retrieve", time.perf_counter() - started)
        if self.tools:
            yield from drive(self._use_tools(turn))
        if turn.handed_off:
            return
        if turn.canned_answer is not None:
            yield AIMessageChunk(content=turn.canned_answer)
            return
        if self.grounded is not None:
            yield from self._grounded_answer(turn)
            return
        answer, started, engine = [], time.perf_counter(), {}
        with backend_errors(self.spec):
            for chunk in self.model.stream(self._answer_messages(turn)):
                answer.append(chunk.text)
                engine = engine_timings(chunk.response_metadata) or engine  # on the last chunk
                yield chunk
        yield StepTimed(self.name, "answer", time.perf_counter() - started, engine)
        if citation := missing_citation("".join(answer), turn.hits):
            yield AIMessageChunk(content=citation)

    async def astream(
        self, question: str, history: Sequence[BaseMessage] = (), *, hits: Sequence[Hit] | None = None
    ) -> AsyncIterator[ExpertEvent]:
        """`stream`, for asyncio callers (run in a worker thread: the event loop stays free)."""
        async for event in relay(lambda: self.stream(question, history, hits=hits)):
            yield event

    def _grounded_answer(self, turn: _Turn) -> Iterator[Grounding | AIMessageChunk | StepTimed]:
        # Checked before it is shown, so it arrives whole: it is one short sentence and quotes.
        assert self.grounded is not None
        started = time.perf_counter()
        with backend_errors(self.spec):
            if self.knowledge is None and not self.tools:  # a generalist: its own answer, checked
                messages = self.messages(turn.question, turn.history)
                text, grounding, reply = self.grounded.checked_answer(messages, turn.question, self.model)
            else:
                text, grounding, reply = self.grounded.answer(
                    turn.question, turn.hits, turn.observations, self.model
                )
        yield grounding
        engine = engine_timings(reply.response_metadata) if reply is not None else {}
        yield StepTimed(self.name, "answer", time.perf_counter() - started, engine)
        usage = reply.usage_metadata if reply is not None else None
        yield AIMessageChunk(content=text, usage_metadata=usage)

    def _answer_messages(self, turn: _Turn) -> list[BaseMessage]:
        """The question, with what the search and the tools found: small models use
        facts best right there."""
        results = [obs.for_model() for obs in turn.observations if not obs.retryable]
        question = turn.question
        if turn.hits:
            example = source_id(turn.hits[0])
            question = (
                f"{context_block(turn.hits)}\n\n{CITE.format(example=example)}\n\n"
                f"{question}"
            )
        if results:
            question += "\n\nWhat your tools returned:\n" + "\n".join(f"- {r}" for r in results)
        return self.messages(question, turn.history)

    # -- the tool phase ---------------------------------------------------------------

    def step_messages(
        self, question: str, history: Sequence[BaseMessage], shown: Sequence[Demonstration]
    ) -> list[BaseMessage]:
        """The conversation the model chooses its next step from: the tools in the system
        prompt, then the demonstrations `shown` (tool calls, and requests answered without
        a tool; `Demonstrations.select` picks them). The question's dates are also
        written in the form date arguments take (`with_iso_dates`)."""
        return [
            SystemMessage(f"{self.system_prompt}\n\n{self.parser.describe()}"),
            *[message for demonstration in shown for message in demonstration.messages()],
            *history,
            HumanMessage(with_iso_dates(question)),
        ]

    async def choose_step(
        self, messages: list[BaseMessage], context: str | None = None, *, only: str | None = None
    ) -> tuple[list[Call], AIMessage, str]:
        """One decision of the model: (tool calls, its reply, a problem to feed back).

        No calls and no problem means the model will answer now. With `context` (what
        the user and the tools said), a call whose ids, numbers or dates do not occur
        in it is not made: the problem says which values were made up. With `only`
        (constrained calling), the step must be a call of that tool.
        """
        tools = self.parser.tools
        # The values each tool's ids, dates and numbers may take: what the conversation holds.
        supplied = None if context is None else {name: supplied_values(item, context) for name, item in tools.items()}
        if self.tool_calling == "constrained":
            calls, reply, problem = await self._choose_constrained(messages, only, supplied)
        else:
            calls, reply, problem = await self._choose_native(messages)
        if supplied is not None:
            made_up = [
                value
                for _id, name, arguments in calls
                if name in tools
                for value in ungrounded_arguments(tools[name], arguments, supplied[name])
            ]
            if made_up:
                return [], reply, UNGROUNDED + ", ".join(made_up)
        return calls, reply, problem

    async def tool_phase(
        self, question: str, history: Sequence[BaseMessage] = ()
    ) -> AsyncIterator[ToolCall | ToolResult]:
        """A turn's tool calls and their results, without the answer (for evaluation)."""
        async for event in self._use_tools(_Turn(question, history)):
            if not isinstance(event, StepTimed):
                yield event

    async def _use_tools(self, turn: _Turn) -> AsyncGenerator[ToolCall | ToolResult | Handoff | StepTimed, None]:
        assert self.executor is not None, "an expert with tools needs an executor"
        assert self.demonstrations is not None
        selection = self.demonstrations.select(turn.question, turn.context())
        # tool_choice nearest forces the first call; a native call cannot be forced on every backend.
        may_force = self.tool_choice == "nearest" and self.tool_calling == "constrained"
        messages = self.step_messages(turn.question, turn.history, selection.shown)
        forced = selection.nearest_call if may_force else None
        # A question never changes anything: a tool that would is neither forced nor run.
        frozen = {t.name for t in self.tools if changes_something(t)} if only_asks(turn.question) else set()
        if forced in frozen:
            forced = None
        for step in range(self.max_steps):
            for attempt in range(self.max_retries + 1):
                # Only the first try is forced: after a problem the model may answer instead.
                only = forced if step == attempt == 0 else None
                started = time.perf_counter()
                with backend_errors(self.spec):
                    calls, reply, problem = await self.choose_step(messages, turn.context(), only=only)
                yield StepTimed(self.name, "tool_step", time.perf_counter() - started,
                                engine_timings(reply.response_metadata))
                if not calls and not problem:
                    if self.tool_calling == "native" and reply.text.strip():
                        turn.canned_answer = reply.text  # a native answer is the answer
                    return
                if any(name in frozen for _, name, _ in calls):
                    return  # the model wanted to act on a question: it answers instead
                if calls and all(turn.already_ran(name, arguments) for _, name, arguments in calls):
                    # Small models repeat a call they have the result of (up to max_steps):
                    # the result is in the conversation already, so answer from it.
                    return
                messages.append(reply)
                if not calls:
                    messages.append(HumanMessage(f"That reply was invalid: {problem}. Try again."))
                    continue
                for tool_call_id, name, arguments in calls:
                    yield ToolCall(self.name, name, arguments, attempt, "nearest" if only else "model")
                    observation = await self.executor.execute(name, arguments)
                    yield ToolResult(self.name, observation)
                    if name == HANDOFF and observation.status == "ok":
                        turn.handed_off = True
                        yield Handoff(self.name, arguments["expert"], arguments.get("reason", ""))
                        return
                    turn.observations.append(observation)
                    messages.append(self._observation_message(observation, tool_call_id))
                    if observation.retryable:
                        problem = observation.content
                if not problem:
                    break  # this step is done: the model may call another tool or answer
            else:
                if problem.startswith(UNGROUNDED):
                    return  # the model wanted data nobody gave: answer without the tool
                turn.canned_answer = (
                    f"Sorry, I could not complete this request: after {self.max_retries + 1} "
                    f"attempts the tool call was still invalid ({problem})."
                )
                return
        # Out of steps: the answer is made from what the tools returned so far.

    def _observation_message(self, observation: Observation, tool_call_id: str | None) -> BaseMessage:
        if tool_call_id is not None:
            return ToolMessage(observation.for_model(), tool_call_id=tool_call_id)
        return HumanMessage(observation.for_model())

    async def _choose_constrained(
        self, messages: list[BaseMessage], only: str | None, supplied: dict[str, dict[str, list[Any]]] | None
    ) -> tuple[list[Call], AIMessage, str]:
        # Ids, dates and numbers are decoded from the values `supplied` (when known).
        decide = self.model.with_structured_output(
            self.parser.json_schema(only, supplied), method="json_schema", include_raw=True
        )
        result: dict[str, Any] = await decide.ainvoke(messages)
        raw: AIMessage = result["raw"]
        try:
            step = self.parser.parse(result["parsed"] if result["parsed"] is not None else raw.text)
        except StepError as exc:
            return [], raw, str(exc)
        if isinstance(step, AnswerStep):
            return [], raw, ""
        return [(None, step.tool, step.arguments)], raw, ""

    async def _choose_native(self, messages: list[BaseMessage]) -> tuple[list[Call], AIMessage, str]:
        reply: AIMessage = await self.model.bind_tools(self.tools).ainvoke(messages)
        calls = [(call["id"], call["name"], call["args"]) for call in reply.tool_calls]
        problem = "; ".join(str(bad.get("error")) for bad in reply.invalid_tool_calls)
        return calls, reply, problem

