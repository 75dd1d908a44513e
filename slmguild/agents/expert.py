"""The Expert: one member of the guild and the steps that produce its answer.

An expert with knowledge first searches its documents; the chunks found go into the
question, under ids the answer cites (and that are cited for it when it forgets).
A turn with tools has two phases. First the model chooses its next step — answer, or
call one of its tools — as one small JSON object decoded under a schema (or through
the backend's native tool calling), shown the labelled requests most like the user's;
when the nearest of them is a tool call, that tool is called and the model only fills
in its arguments (`tool_choice: nearest`). The executor runs each call and the
observation goes back to the model, until it answers or runs out of steps. A call of a
tool that changes something and needs approval is not run: the step stops at it
(`PendingCall`), and `act` runs it or declines it once the user has answered. Then the
answer is generated as free text, with the tools' results in the question, so that it
streams.

Each step works on an `ExpertTurn`, plain data that the orchestrator's graph saves with
the session between its nodes; `stream` runs the steps one after another for an expert
used alone (which cannot ask for approval: such a call is declined).
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

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

from slmguild.agents.events import (
    Approval,
    Handoff,
    PendingCall,
    Retrieved,
    StepTimed,
    ToolCall,
    ToolResult,
    engine_timings,
)
from slmguild.agents.grounded import GroundedAnswerer, Grounding
from slmguild.concurrency import drive, relay
from slmguild.config import Generation, ModelSpec
from slmguild.knowledge import Hit, Retriever
from slmguild.knowledge.citations import context_block, missing_citation, source_id
from slmguild.serving import backend_errors, sampled
from slmguild.tools import (
    AnswerStep,
    Demonstration,
    Demonstrations,
    Observation,
    StepParser,
    ToolExecutor,
)
from slmguild.tools.abilities import ToolAbilities
from slmguild.tools.grounding import (
    borrowed,
    free_text,
    leaves_out_identifiers,
    supplied_values,
    ungrounded_arguments,
    with_iso_dates,
)
from slmguild.tools.handoff import HANDOFF
from slmguild.tools.side_effects import changes_something, only_asks
from slmguild.tools.steps import StepError, argument_schema

UNGROUNDED = "these values do not appear in the conversation: "
ExpertEvent = AIMessageChunk | Retrieved | ToolCall | ToolResult | Handoff | Grounding | StepTimed | PendingCall
CITE = (
    "Answer from these excerpts of the documents. After each fact, cite its document's id "
    "in square brackets, like [{example}]. If the excerpts do not answer the question, say so."
)
Call = tuple[str | None, str, dict[str, Any]]  # (native call id, tool name, arguments)


NextStep = Literal["tool_step", "approve", "answer", "handoff"]


@dataclass
class ExpertTurn:
    """One expert's work on one question, between its steps: what the search found, the
    tool phase's conversation and results, and which step comes next.

    Plain data: the graph saves it with the session while a call waits for approval,
    and another process can take the turn up from there.
    """

    question: str
    history: list[BaseMessage] = field(default_factory=list)
    query: str | None = None  # what the search looks for: the question in context, for a follow-up
    continues: bool = False  # a follow-up of this expert's own turn before (not one moved here)
    next: NextStep = "answer"
    hits: list[Hit] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    step_messages: list[BaseMessage] = field(default_factory=list)  # the tool phase's conversation
    step: int = 0
    forced: str | None = None  # the tool the nearest labelled request calls (first try only)
    frozen: list[str] = field(default_factory=list)  # tools this request must not run: it only asks
    pending: PendingCall | None = None  # a call waiting for the user's approval
    canned_answer: str | None = None  # set when the turn must end without generation
    declined: str | None = None  # the answer's first sentence: what was asked that no tool does
    handoff: Handoff | None = None  # the turn went to another expert: this one does not answer

    def said(self) -> str:
        """What the user said in the conversation: the only words a choice is named in."""
        return "\n".join([m.text for m in self.history if m.type == "human"] + [self.question])

    def context(self) -> str:
        """What the user and the tools said, and the guild's last answer ("what's that in
        CAD?" converts the limit it just gave): where a call's ids, numbers and dates must
        come from. Earlier answers are left out: each adds figures a call could pick wrongly."""
        answers = [m.text for m in self.history if m.type == "ai"][-1:]
        return "\n".join([self.said(), *answers, *(obs.content for obs in self.observations if obs.status == "ok")])

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
    # Tools whose calls wait for the user's approval. None: every tool that changes something.
    approval: frozenset[str] | None = None
    parser: StepParser = field(init=False, repr=False)
    abilities: ToolAbilities = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parser = StepParser(self.tools)  # the step schema and prompt, built once
        self.abilities = ToolAbilities(self.tools)
        if self.demonstrations is None:
            self.demonstrations = Demonstrations(self.tools)
        if self.approval is None:
            self.approval = frozenset(t.name for t in self.tools if changes_something(t))

    def messages(self, question: str, history: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
        """The conversation the model answers: system prompt, earlier turns, the question."""
        return [SystemMessage(self.system_prompt), *history, HumanMessage(question)]

    def retrieve(self, question: str) -> list[Hit]:
        """What the expert's documents say about `question` (nothing without knowledge)."""
        return self.knowledge.search(question) if self.knowledge is not None else []

    def begin(
        self, question: str, history: Sequence[BaseMessage] = (), *, query: str | None = None, continues: bool = False,
    ) -> ExpertTurn:
        """A new turn of this expert on `question`: its first step is the tool phase, if it
        has tools. `query`: what to search for instead of the question (a follow-up's
        question in context); `continues`: the turn before was this expert's too."""
        return ExpertTurn(question, list(history), query=query, continues=continues,
                          next="tool_step" if self.tools else "answer")

    def stream(
        self, question: str, history: Sequence[BaseMessage] = (), *, may_hand_off: bool = True
    ) -> Iterator[ExpertEvent]:
        """The whole turn of this expert alone: what the search found, tool calls and
        results, then the answer as it is generated.

        Used alone, the expert has nobody to ask for approval: a call that needs it is
        declined, and the answer says so (the orchestrator's graph asks the user instead).
        A handoff ends the stream at its `Handoff` event: the caller passes the question on
        to `Handoff.to`; unless `may_hand_off` is False, and this expert answers itself.
        """
        turn = self.begin(question, history)
        if self.knowledge is not None:
            yield from self.search(turn)
        while turn.next == "tool_step":
            yield from drive(self.tool_step(turn))
        if turn.next == "handoff" and not may_hand_off:
            turn.next = "answer"
        if turn.next == "approve":
            yield from drive(self.act(turn, Approval(approved=False, reason="unasked")))
        if turn.next == "answer":
            yield from self.answer(turn)

    async def astream(self, question: str, history: Sequence[BaseMessage] = ()) -> AsyncIterator[ExpertEvent]:
        """`stream`, for asyncio callers (run in a worker thread: the event loop stays free)."""
        async for event in relay(lambda: self.stream(question, history)):
            yield event

    def search(self, turn: ExpertTurn) -> Iterator[Retrieved | StepTimed]:
        """The retrieval step: what the expert's documents say about the turn's question."""
        started = time.perf_counter()
        query = turn.query or turn.question
        turn.hits = self.retrieve(query)
        yield Retrieved(self.name, query, tuple(turn.hits))
        yield StepTimed(self.name, "retrieve", time.perf_counter() - started)

    def answer(
        self, turn: ExpertTurn, sampling: dict[str, Any] | None = None
    ) -> Iterator[AIMessageChunk | Grounding | StepTimed]:
        """The answer step: generated from what the search and the tools found, streamed
        (a grounded answer: its lead and source, once the model's draft is checked).

        `sampling`: a caller's options for a generated answer (`Expert.sampling`); a
        checked answer's draft is always greedy and short, so they do not apply to it."""
        if turn.canned_answer is not None:
            yield AIMessageChunk(content=turn.canned_answer)
            return
        options = self.sampling(sampling or {})
        structured = "response_format" in options  # nothing may be added to the model's JSON
        if turn.declined is not None and not structured:  # said first; what the documents hold about it follows
            yield AIMessageChunk(content=f"{turn.declined} ")
        if self.grounded is not None:
            yield from self._grounded_answer(turn)
            return
        answer: list[str] = []
        engine: dict[str, Any] = {}
        started = time.perf_counter()
        model = sampled(self.model, options) if options else self.model
        with backend_errors(self.spec):
            for chunk in model.stream(self._answer_messages(turn)):
                answer.append(chunk.text)
                engine = engine_timings(chunk.response_metadata) or engine  # on the last chunk
                yield chunk
        yield StepTimed(self.name, "answer", time.perf_counter() - started, engine)
        if not structured and (citation := missing_citation("".join(answer), turn.hits)):
            yield AIMessageChunk(content=citation)

    def sampling(self, requested: dict[str, Any]) -> dict[str, Any]:
        """A caller's sampling options as this expert's answer uses them: `max_tokens` at
        most the guild file's (the operator bounds the cost of a turn), `stop` added to
        the guild file's stops (they may end the model's turn)."""
        options = {key: value for key, value in requested.items() if value is not None}
        generation = self.spec.generation or Generation()
        if "max_tokens" in options:
            options["max_tokens"] = min(options["max_tokens"], generation.max_tokens)
        if options.get("stop"):
            options["stop"] = list(dict.fromkeys([*generation.stop, *options["stop"]]))
        return options

    def _grounded_answer(self, turn: ExpertTurn) -> Iterator[Grounding | AIMessageChunk | StepTimed]:
        assert self.grounded is not None
        started = time.perf_counter()
        if self.knowledge is None and not self.tools:  # a generalist: its own answer, shown once checked
            with backend_errors(self.spec):
                messages = self.messages(turn.question, turn.history)
                grounding, own = self.grounded.checked_answer(messages, turn.question, self.model)
            yield from self._grounded_end(grounding, own, started)
            yield AIMessageChunk(content=grounding.text, usage_metadata=own.usage_metadata)
            return
        found = self.grounded.findings(turn.question, turn.hits, turn.observations, context=turn.query)
        if not found:
            grounding = self.grounded.nothing_found()
            yield from self._grounded_end(grounding, None, started)
            yield AIMessageChunk(content=grounding.text)
            return
        with backend_errors(self.spec):  # a follow-up is drafted in context: "ok and the vpn one?" asks nothing alone
            grounding, reply = self.grounded.conclude(turn.query or turn.question, found, self.model)
        yield from self._grounded_end(grounding, reply, started)
        yield AIMessageChunk(content=grounding.text,
                             usage_metadata=reply.usage_metadata if reply is not None else None)

    def _grounded_end(self, grounding: Grounding, reply: AIMessage | None, started: float) -> Iterator[Grounding | StepTimed]:
        """How the grounded answer was made, and the answer step's time (for the trace)."""
        yield grounding
        engine = engine_timings(reply.response_metadata) if reply is not None else {}
        yield StepTimed(self.name, "answer", time.perf_counter() - started, engine)

    def _answer_messages(self, turn: ExpertTurn) -> list[BaseMessage]:
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
        a tool; `Demonstrations.select` picks them), then the user's earlier requests. The
        question's dates are also written in the form date arguments take (`with_iso_dates`).

        The guild's earlier answers are left out: a 135M model that sees its last answer
        (steps quoted from a document: "1. Open a ticket at ...") answers again instead of
        calling the tool asked for (the example's approval scenario, real model)."""
        return [
            SystemMessage(f"{self.system_prompt}\n\n{self.parser.describe()}"),
            *[message for demonstration in shown for message in demonstration.messages()],
            *[message for message in history if isinstance(message, HumanMessage)],
            HumanMessage(with_iso_dates(question)),
        ]

    async def choose_step(
        self, messages: list[BaseMessage], context: str | None = None, *, said: str | None = None,
        only: str | None = None,
    ) -> tuple[list[Call], AIMessage, str]:
        """One decision of the model: (tool calls, its reply, a problem to feed back).

        No calls and no problem means the model will answer now. With `context` (what
        the user and the tools said), a call whose ids, numbers or dates do not occur
        in it is not made: the problem says which values were made up; a choice the
        user named in `said` (default: `context`) is the only one offered. With `only`
        (constrained calling), the step must be a call of that tool.
        """
        tools = self.parser.tools
        # The values each tool's ids, dates and numbers may take: what the conversation holds.
        supplied = None if context is None else {
            name: supplied_values(item, context, said=said) for name, item in tools.items()}
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
        self, question: str, history: Sequence[BaseMessage] = (), *, approve: bool = True
    ) -> AsyncIterator[ToolCall | ToolResult | Handoff | PendingCall]:
        """A turn's tool calls and their results, without the answer (for evaluation).

        A call that waits for approval is run when `approve` (as if the user approved
        it: evaluation measures the expert's decisions), else declined.
        """
        turn = ExpertTurn(question, list(history), next="tool_step")
        while turn.next in ("tool_step", "approve"):
            steps = self.tool_step(turn) if turn.next == "tool_step" else self.act(turn, Approval(approve))
            async for event in steps:
                if not isinstance(event, StepTimed):
                    yield event

    async def tool_step(self, turn: ExpertTurn) -> AsyncGenerator[ToolCall | ToolResult | Handoff | StepTimed |
                                                                  PendingCall, None]:
        """One step of the tool phase: the model chooses (retried when its choice is
        invalid; a call with made-up ids, dates or numbers is dropped, and the expert
        answers without it), and the calls it chose run — except one that needs approval, where the
        step stops. `turn.next` then says what follows: another step, approval, the
        answer, or a handoff to another expert."""
        assert self.executor is not None, "an expert with tools needs an executor"
        turn.next = "answer"
        if not turn.step_messages:
            started = time.perf_counter()
            if skipped := self._start_tool_phase(turn):
                yield StepTimed(self.name, "tool_step", time.perf_counter() - started, skipped=skipped)
                return
        problem = ""
        for attempt in range(self.max_retries + 1):
            # Only the first try is forced: after a problem the model may answer instead.
            only = turn.forced if turn.step == attempt == 0 else None
            started = time.perf_counter()
            with backend_errors(self.spec):
                calls, reply, problem = await self.choose_step(turn.step_messages, turn.context(), said=turn.said(),
                                                               only=only)
            calls = [self._in_own_words(turn, call) for call in calls]
            yield StepTimed(self.name, "tool_step", time.perf_counter() - started,
                            engine_timings(reply.response_metadata))
            if not calls and not problem:
                if self.tool_calling == "native" and reply.text.strip():
                    turn.canned_answer = reply.text  # a native answer is the answer
                return
            if any(name in turn.frozen for _, name, _ in calls):
                return  # the model wanted to act on a question: it answers instead
            if calls and all(turn.already_ran(name, arguments) for _, name, arguments in calls):
                # Small models repeat a call they have the result of (up to max_steps):
                # the result is in the conversation already, so answer from it.
                return
            if problem.startswith(UNGROUNDED):
                # The schema limits every argument the conversation has values for to them, so
                # a made-up value is one the conversation has none for: a retry could only make
                # up another (measured: three tries of ~0.8 s each). Answer without the tool.
                return
            turn.step_messages.append(reply)
            if not calls:
                turn.step_messages.append(HumanMessage(f"That reply was invalid: {problem}. Try again."))
                continue
            for tool_call_id, name, arguments in calls:
                if name in (self.approval or ()):
                    turn.pending = PendingCall(self.name, name, arguments, tool_call_id)
                    turn.next = "approve"
                    yield turn.pending
                    return
                yield ToolCall(self.name, name, arguments, attempt, "nearest" if only else "model")
                observation = await self.executor.execute(name, arguments)
                yield ToolResult(self.name, observation)
                if name == HANDOFF and observation.status == "ok":
                    turn.handoff = Handoff(self.name, arguments["expert"], arguments.get("reason", ""))
                    turn.next = "handoff"
                    yield turn.handoff
                    return
                self._observed(turn, observation, tool_call_id)
                if observation.retryable:
                    problem = observation.content
            if not problem:
                turn.step += 1  # this step is done: the model may call another tool or answer
                turn.next = "tool_step" if turn.step < self.max_steps else "answer"
                return  # out of steps: the answer is made from what the tools returned so far
        turn.canned_answer = (
            f"Sorry, I could not complete this request: after {self.max_retries + 1} "
            f"attempts the tool call was still invalid ({problem})."
        )

    async def act(self, turn: ExpertTurn, approval: Approval) -> AsyncGenerator[ToolCall | ToolResult, None]:
        """The approval step's outcome: the pending call runs (with the user's edited
        arguments, if any), or it is declined and the answer says what was not done.

        Either way the answer follows: one approved change per turn, then the expert
        says what came of it.
        """
        pending = turn.pending
        assert pending is not None and self.executor is not None, "act() answers a pending call"
        turn.pending, turn.next = None, "answer"
        if approval.approved:
            arguments = approval.arguments if approval.arguments is not None else pending.arguments
            yield ToolCall(self.name, pending.tool, arguments)
            observation = await self.executor.execute(pending.tool, arguments)
        else:
            why = {"refused": "you did not approve it", "abandoned": "you moved on before approving it",
                   "unasked": "it needs your approval, which could not be asked for here"}[approval.reason]
            observation = Observation(pending.tool, pending.arguments, "declined", f"not run: {why}")
            turn.canned_answer = f"Not done: I did not run {pending.describe()}, because {why}."
        yield ToolResult(self.name, observation, approval.outcome, approval.by, approval.at)
        self._observed(turn, observation, pending.call_id)

    def _start_tool_phase(self, turn: ExpertTurn) -> str | None:
        """The tool phase's conversation, and which tool (if any) the first try must call;
        or why no step is needed (then the expert answers without one)."""
        assert self.demonstrations is not None
        selection = self.demonstrations.select(turn.question, turn.context())
        if turn.query is not None and turn.continues:
            # A follow-up calls the tool that its own words and its words in context are both
            # nearest: alone, "how long till I get a new one?" is nearest a request for an
            # equipment limit, after a lost corporate card it is not; "and in Munich?" in
            # context is nearest the hotel limit, which the tool knows for no city. Words of
            # another expert's turn before say nothing of this one's tools: "is there money
            # for a desk chair too?" after a question to HR is read in its own words.
            selection = selection.agreeing(self.demonstrations.select(turn.query, turn.context()))
        # tool_choice nearest: the nearest labelled request decides. It forces the first call
        # (a native call cannot be forced on every backend), or, for a plain question nearest
        # a request answered without a tool, or a call this conversation has no values for,
        # spares the step: the model would answer anyway, or make values up.
        may_force = self.tool_choice == "nearest" and self.tool_calling == "constrained"
        asks = only_asks(turn.question)
        if may_force and asks and selection.nearest_answers:
            return "a question, nearest a request answered without a tool"
        if may_force and asks and selection.nearest_lacks_values:
            return "a question, nearest a tool call it has no values for"
        # A request to do what no tool does ("can you bump it up to urgent?") is answered as
        # such; a tool that does none of what is asked is not the nearest guess at it.
        unable, undone = self.abilities.unable(turn.question)
        if undone is not None:
            turn.declined = undone.declined()
            return f"asks to {undone.words!r}, which none of the tools does"
        turn.step_messages = self.step_messages(turn.question, turn.history, selection.shown)
        # A question never changes anything: a tool that would is neither forced nor run.
        turn.frozen = [t.name for t in self.tools if (asks and changes_something(t)) or t.name in unable]
        forced = selection.nearest_call if may_force else None
        turn.forced = forced if forced not in turn.frozen else None
        return None

    def _in_own_words(self, turn: ExpertTurn, call: Call) -> Call:
        """`call`, each free-text argument the model took from elsewhere than the conversation
        (a demonstration's ticket summary) or wrote without the codes and numbers the request
        names (the printer, the room) replaced by what the user's request describes
        (`ToolAbilities.described`), when that fits the argument's length."""
        call_id, name, arguments = call
        if name not in self.parser.tools:
            return call
        properties = argument_schema(self.parser.tools[name]).get("properties", {})
        own = dict(arguments)
        for argument, value in arguments.items():
            spec = properties.get(argument, {})
            if not (isinstance(value, str) and free_text(spec)):
                continue
            described = self.abilities.described(name, turn.question)
            if borrowed(value, turn.said()) or leaves_out_identifiers(value, described):
                if "maxLength" in spec and len(described) > spec["maxLength"]:
                    described = textwrap.shorten(described, spec["maxLength"], placeholder="…")
                if len(described) >= spec.get("minLength", 1):
                    own[argument] = described
        return call_id, name, own

    def _observed(self, turn: ExpertTurn, observation: Observation, tool_call_id: str | None) -> None:
        """A call's outcome, kept for the answer and shown to the model's next step."""
        turn.observations.append(observation)
        turn.step_messages.append(self._observation_message(observation, tool_call_id))

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
        result = cast(dict[str, Any], await decide.ainvoke(messages))  # include_raw: {raw, parsed, parsing_error}
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

