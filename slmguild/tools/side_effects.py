"""Tools that change something, and requests that only ask.

A tool declared with `slmguild.tool(..., changes=True)` (opening a ticket, placing an
order) changes the world. A question that asks for information ("what are the password
rules?", "how do I report a phishing e-mail?") must never run one, however near a
tool's example it is: the expert answers it instead. A request to act ("please open a
ticket", "can you get someone to fix it") is not a plain question, and may.
"""

from __future__ import annotations

import re

from langchain_core.tools import BaseTool

# Words that ask the help desk to do something, not to tell something.
_POLITE_ASK = re.compile(r"\b(?:please|pls)\b|\b(?:can|could|would|will) (?:you|someone|somebody|u)\b", re.IGNORECASE)
# The act told to the help desk, not done by someone else: at a clause's start or after an
# ask or a joining word ("my laptop was stolen, open a ticket"), not "before I open a ticket myself"
# nor "does that create a ticket?".
_TO_ACT = re.compile(
    r"(?:^|[,;:!-]\s*|\b(?:please|pls|plz|and|just|now|then|also|to|let'?s|(?:can|could|shall) we)\s+)"
    r"(?:open|create|raise|file|log|submit|make) (?:a|an|me a|the) (?:new )?(?:ticket|request|incident)\b"
    r"|\bi (?:want|need|would like|'d like) (?:you )?to (?:open|create|raise|report)\b",
    re.IGNORECASE,
)
# "How do I open a ticket?" asks how it is done: a question about the act, not the act.
_ASKS_HOW = re.compile(r"^\s*(?:so |and |but )?(?:how|where|when|what|which|who|why)\b", re.IGNORECASE)
# A clause that opens with a question word: "how do I...", "..., what's the hotel cap there".
_QUESTION_WORD = re.compile(
    r"(?:^|[,;:]\s*)(?:by |at |from |until )?(?:how|what|what's|whats|when|where|which|who|whom|why|is|are|am|do|does|did|can i|could i|may i"
    r"|should|shall|have|has|will|would i|any)\b",
    re.IGNORECASE,
)


def changes_something(tool: BaseTool) -> bool:
    """Whether `tool` was declared to change something (`slmguild.tool(changes=True)`)."""
    return bool((tool.metadata or {}).get("changes"))


def only_asks(request: str) -> bool:
    """Whether `request` only asks for information: a question, and nowhere a request to act."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", request.strip()) if s.strip()]
    if any(_asks_to_act(sentence) for sentence in sentences):
        return False
    return any(s.endswith("?") or _QUESTION_WORD.search(s) for s in sentences)


def _asks_to_act(sentence: str) -> bool:
    if _POLITE_ASK.search(sentence):
        return True
    return bool(_TO_ACT.search(sentence)) and not _ASKS_HOW.match(sentence)
