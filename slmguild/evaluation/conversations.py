"""Conversations, not single questions: each scripted conversation goes through one session
turn by turn, as a user's would, and its last turn — the follow-up, or the change of topic
— is scored against what that turn means in its conversation.

JSON lines `{"id": ..., "kind": ..., "turns": [{"question": ..., "expert": ..., "keys":
[[...]], "tool": {"name": ..., "arguments": {...}} | null}, ...]}`. `kind`: `follow-up` (the
last question makes sense only after the turns before), `topic-change` (it stands alone,
on another expert's topic), `tool-follow-up` (a tool's argument comes from the turn
before) or `impossible` (it asks for what no tool does: no call may be proposed). A turn's
`tool` is the call it should make (absent: not scored; null: none).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from slmguild.evaluation.answers import first_sentence
from slmguild.evaluation.metrics import has_keys
from slmguild.evaluation.tool_calls import same_arguments
from slmguild.orchestrator.trace import TurnTrace
from slmguild.tools.steps import argument_schema

if TYPE_CHECKING:
    from slmguild.orchestrator import Guild

Kind = Literal["follow-up", "topic-change", "tool-follow-up", "impossible"]
NOT_SCORED = object()  # a turn without a `tool` field: its calls are not scored


@dataclass(frozen=True)
class ScriptedTurn:
    """A user's turn and what it means in its conversation."""

    question: str
    expert: str | None
    keys: list[list[str]] = field(default_factory=list)
    tool: Any = NOT_SCORED  # {"name", "arguments"}, None (no call), or NOT_SCORED


@dataclass(frozen=True)
class Conversation:
    """A scripted conversation; its last turn is the one scored."""

    id: str
    kind: Kind
    turns: tuple[ScriptedTurn, ...]


@dataclass(frozen=True)
class LastTurn:
    """What the guild did with a conversation's last turn."""

    conversation: Conversation
    expert: str
    answer: str
    calls: tuple[tuple[str, dict[str, Any]], ...]  # run or proposed (waiting for approval)
    latency_s: float
    trace: TurnTrace = field(repr=False)
    # Each called tool's argument schemas, by tool: how its arguments are judged.
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def expected(self) -> ScriptedTurn:
        return self.conversation.turns[-1]

    @property
    def routed(self) -> bool:
        return self.expert == self.expected.expert

    @property
    def correct(self) -> bool | None:
        """Every key fact anywhere in the answer (None: the turn has no keys)."""
        return has_keys(self.answer, self.expected.keys) if self.expected.keys else None

    @property
    def lead(self) -> bool | None:
        """Every key fact in the answer's first sentence (None: no keys)."""
        return has_keys(first_sentence(self.answer), self.expected.keys) if self.expected.keys else None

    @property
    def tool_right(self) -> bool | None:
        """The expected call made (its arguments too), or none when none was expected
        (None: not scored)."""
        expected = self.expected.tool
        if expected is NOT_SCORED:
            return None
        if expected is None:
            return not self.calls
        return any(name == expected["name"]
                   and same_arguments(expected.get("arguments", {}), arguments, self.properties.get(name, {}))
                   for name, arguments in self.calls)


@dataclass
class ConversationReport:
    """The scores of the last turns, by kind. `follow_up_*`: over follow-ups of every kind
    but topic changes; `switched`: topic changes routed to the new topic's expert."""

    last_turns: list[LastTurn]
    follow_up_routed: float | None = None
    follow_up_correct: float | None = None
    follow_up_lead: float | None = None
    switched: float | None = None
    tool_right: float | None = None
    p50_s: float = 0.0


def conversation_rows(rows: Sequence[dict[str, Any]]) -> list[Conversation]:
    """Conversations from JSON-lines rows (see the module's doc)."""
    conversations = []
    for number, row in enumerate(rows, 1):
        turns = tuple(
            ScriptedTurn(str(turn["question"]), turn.get("expert"), [list(g) for g in turn.get("keys") or []],
                         turn.get("tool", NOT_SCORED))
            for turn in row["turns"]
        )
        conversations.append(Conversation(str(row.get("id", number)), row.get("kind", "follow-up"), turns))
    return conversations


def converse(guild: Guild, conversation: Conversation) -> LastTurn:
    """Run `conversation` in a session of its own; what came of its last turn."""
    session = f"eval-{uuid.uuid4().hex[:12]}"
    for turn in conversation.turns[:-1]:
        guild.run(turn.question, session=session)
    started = time.perf_counter()
    reply = guild.run(conversation.turns[-1].question, session=session)
    latency = time.perf_counter() - started
    calls = [(call.tool, call.arguments) for part in reply.trace.all_parts() for call in part.tools
             if call.status in ("ok", "error")]
    if reply.pending is not None:
        calls.append((reply.pending.tool, reply.pending.arguments))
    guild.delete_session(session)
    properties = {name: argument_schema(guild.tools.resolve(name)).get("properties", {})
                  for name, _ in calls if name in guild.tools.names}
    return LastTurn(conversation, reply.expert, reply.text, tuple(calls), latency, reply.trace, properties)


def conversation_quality(
    guild: Guild, conversations: Sequence[Conversation], *, progress: Callable[[int, int], None] | None = None
) -> ConversationReport:
    """Run every conversation and score its last turn."""
    last_turns = []
    for done, conversation in enumerate(conversations, 1):
        last_turns.append(converse(guild, conversation))
        if progress:
            progress(done, len(conversations))
    follow_ups = [turn for turn in last_turns if turn.conversation.kind != "topic-change"]
    changes = [turn for turn in last_turns if turn.conversation.kind == "topic-change"]
    latencies = [turn.latency_s for turn in last_turns]
    return ConversationReport(
        last_turns,
        follow_up_routed=_share(turn.routed for turn in follow_ups),
        follow_up_correct=_share(turn.correct for turn in follow_ups),
        follow_up_lead=_share(turn.lead for turn in follow_ups),
        switched=_share(turn.routed for turn in changes),
        tool_right=_share(turn.tool_right for turn in last_turns),
        p50_s=statistics.median(latencies) if latencies else 0.0,
    )


def _share(outcomes: Any) -> float | None:
    scored = [outcome for outcome in outcomes if outcome is not None]
    return sum(scored) / len(scored) if scored else None
