"""What an expert's tools can do, and requests that none of them does.

Shown "can you bump it up to urgent?" after a ticket's status, the nearest labelled
request is one that opens a ticket ("Log an urgent ticket: ..."), and a 135M model fills
in a summary: a new ticket nobody asked for, put to the user for approval. The same
happens to "can you book me a hotel?" (the nearest tool looks up the hotel limit) and
"can you approve my leave?". A request to act names what it wants done — the verb after
"can you", "could someone", "please" — and a tool does only what its name, its
description and its labelled requests say it does (`ToolAbilities`); a tool that
changes nothing also tells and looks things up. A request whose verbs no tool does is
answered as such, not mapped to the nearest tool.

A tool that changes something but takes no identifier (an id `pattern`) makes a new
thing: it cannot change one the user names by "its" ("raise its priority").

Only polite requests are judged: their verb is the word after the ask. A request
written otherwise ("Convert 250 EUR to USD", "my laptop was stolen, open a ticket")
goes to the tools as before: without a verb lexicon, a sentence's first word is as
often a noun ("Outlook keeps crashing"). A clause that opens with a verb and its object
("Log an urgent ticket: ...") only ever counts for a tool, never against one.

The same reading tells what a request describes besides its ask (`described`): the words
a ticket's summary is made of when the model copied a demonstration's instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.tools import BaseTool

from slmguild.knowledge.words import content_words
from slmguild.tools.definition import examples_of
from slmguild.tools.demonstrations import clauses
from slmguild.tools.handoff import HANDOFF
from slmguild.tools.side_effects import changes_something
from slmguild.tools.steps import argument_schema

# Words between the ask and its verb: "could you please help me open a ticket".
_FILLER = r"(?:(?:please|pls|plz|just|also|quickly|kindly|maybe|possibly|now|help me|try to|go ahead and)\s+)*"
# A polite ask and the words after it: "can you bump it up to urgent", "please open a ticket",
# "can't you just approve it?" (a negative question asks as much).
_ASK = re.compile(
    r"\b(?:(?:can(?:not|['’]?t)?|could(?:n['’]?t)?|would(?:n['’]?t)?|will|won['’]?t)\s+(?:you|u|someone|somebody|anyone)"
    rf"|please|pls|plz|kindly)\s+{_FILLER}"
    r"(?P<action>[a-z][a-z'-]*(?:[^,.;:!?]*))",
    re.IGNORECASE,
)
# Where what is asked for ends: "approve it for me so I can book flights" asks to approve it.
_ACTION_END = re.compile(r"\s+(?:so|because|as|since|then|and then|before|thanks|thank you)\b.*", re.IGNORECASE)
# A possessive object: the request changes a thing named before ("raise its priority").
_NAMED_BEFORE = re.compile(r"^\S+\s+(?:up\s+)?(?:its|their|his|her)\b", re.IGNORECASE)
# Verbs that ask to be told something: the expert does them by answering, and so does
# any tool that changes nothing.
_TELLING = frozenset(
    content_words(
        "tell check look see find show give share pull count calculate compute convert confirm verify list "
        "lookup search fetch read explain remind figure work help advise answer clarify describe recommend "
        "suggest summarize summarise"
    )
)
# A clause that opens with a verb and its object: "Raise a ticket", "log it", "install the app".
_IMPERATIVE = re.compile(r"([a-z]+)\s+(?:a|an|the|my|me|it|this|that|our|some|up)\b", re.IGNORECASE)
# What joins an ask to what it is about: "a ticket asking for Visio", "a ticket about the printer".
_CONNECTOR = re.compile(r"^(?:(?:asking|about|for|because|since|that|to|regarding|re)\b\W*)+", re.IGNORECASE)
_SPEAKER = {"me": "you", "my": "your", "mine": "yours", "i": "you", "myself": "yourself"}


@dataclass(frozen=True)
class Action:
    """What a request asks to be done: its verb (stemmed, `stem`) and the words asked,
    as written ("bump it up to urgent")."""

    stem: str
    words: str

    @property
    def on_named_thing(self) -> bool:
        """Whether it changes something named before: "raise its priority"."""
        return bool(_NAMED_BEFORE.match(self.words))

    def declined(self) -> str:
        """The answer's first sentence when no tool does it, in the user's words turned to them."""
        words = " ".join(_SPEAKER.get(word.lower(), word) for word in self.words.split())
        return f"I cannot {words}: none of my tools does that."


def requested_actions(request: str) -> list[Action]:
    """What `request` asks to be done after each polite ask, whose verb says something
    ("can you get someone to..." or "could you do..." asks nothing a verb can judge)."""
    actions = []
    for match in _ASK.finditer(request):
        words = _ACTION_END.sub("", match["action"]).strip()
        stems = content_words(words.split()[0]) if words else []
        if stems:
            actions.append(Action(stems[0], words))
    return actions


class ToolAbilities:
    """The verbs each of an expert's tools does: those of its name, its description's first
    word and its labelled requests' asks and imperatives; and, for a tool that changes
    nothing, telling."""

    def __init__(self, tools: Sequence[BaseTool]) -> None:
        self.tools = {item.name: item for item in tools}
        self.verbs = {item.name: self._verbs(item) for item in tools}

    @staticmethod
    def _verbs(item: BaseTool) -> frozenset[str]:
        # A docstring's first word is its verb ("Open a new IT help desk ticket..."); the
        # rest of the line would add nouns ("help desk") that a request's verb may be.
        described = [item.name.replace("_", " "), *(item.description or "").split()[:1]]
        requests = [request for request, _ in examples_of(item)]
        asked = [action.stem for request in requests for action in requested_actions(request)]
        verbs = {*content_words(" ".join(described)), *asked, *(stem for r in requests for stem in _openers(r))}
        return frozenset(verbs if changes_something(item) else verbs | _TELLING)

    def can(self, tool: str, action: Action) -> bool:
        """Whether `tool` does `action`: its verb, and not a change of something named
        before by a tool that takes no identifier (it makes a new one). The handoff tool
        does whatever the expert it hands to does."""
        if tool == HANDOFF:
            return True
        item = self.tools[tool]
        if action.on_named_thing and changes_something(item) and not _takes_identifier(item):
            return False
        return action.stem in self.verbs[tool]

    def unable(self, request: str) -> tuple[list[str], Action | None]:
        """The tools that do none of what `request` asks, and what it asks when neither a
        tool nor an answer does any of it (None: something asked is done, or nothing is asked)."""
        actions = requested_actions(request)
        if not actions:
            return [], None
        # "Raise a ticket: please add me to the mailbox" asks to raise a ticket, and no tool adds.
        openers = _openers(request)
        doing = {name for name in self.tools
                 if any(self.can(name, action) for action in actions) or openers & self.verbs[name]}
        answered = any(action.stem in _TELLING for action in actions)
        return [name for name in self.tools if name not in doing], None if doing or answered else actions[0]

    def described(self, tool: str, request: str) -> str:
        """What `request` describes for `tool` to act on, in the user's words: its clauses
        but the ask for the tool itself ("please open a high priority ticket"; an ask that
        goes on past the tool's name keeps what follows: "log a ticket asking for Visio to
        be installed" describes "Visio to be installed"); another ask keeps its words
        ("please add me to the shared mailbox"). "" when it describes nothing besides the ask."""
        nouns = set(content_words(tool.replace("_", " ")))
        kept = []
        for part in clauses(request)[1:] or [request]:
            actions = requested_actions(part)
            for action in actions:
                if not self.can(tool, action):
                    kept.append(action.words)
                    continue
                words = action.words.split()
                named = [i for i, word in enumerate(words) if set(content_words(word)) & nouns]
                rest = " ".join(words[named[-1] + 1:]) if named else ""
                kept.append(_CONNECTOR.sub("", rest))
            if not actions and not _openers(part) & self.verbs[tool]:
                kept.append(part)
        text = ", ".join(part.strip(" .!?") for part in kept if part.strip(" .!?"))
        return text[:1].upper() + text[1:]


def _openers(text: str) -> set[str]:
    """The verb of each clause of `text` that opens with an imperative ("Log an urgent
    ticket: ...", "file it"), stemmed: a first word followed by its object's first word."""
    return {stems[0] for part in clauses(text)
            if (match := _IMPERATIVE.match(part)) and (stems := content_words(match[1]))}


def _takes_identifier(item: BaseTool) -> bool:
    return any("pattern" in spec for spec in argument_schema(item).get("properties", {}).values())

