"""Follow-ups: a question that makes sense only after the turn before ("and in Munich?",
"is there money for that?") is routed and searched as the question in context — the
conversation's last question in context followed by this one.

A rule decides, not a model: it costs microseconds instead of a model call, and it never
puts words in the user's mouth — the question in context is made only of what the user
said. It reads 19 of the example guild's 24 dev follow-ups as such, and 5 of its 72 dev
single questions (docs/conversations.md has the held-out figures). What
routing and search used is in the trace (`route.query`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How a follow-up opens: it continues the turn before.
CONTINUING = re.compile(
    r"^\W*(and|but|also|so|then|ok(ay)?|nice|great|thanks?|cool|what about|how about|what if|same|even)\b",
    re.IGNORECASE,
)
# How a change of topic announces itself: the question stands alone, whatever follows.
NEW_TOPIC = re.compile(
    r"^\W*(different|another|new|separate|unrelated|other)\s+(question|thing|topic|subject)\b|"
    r"^\W*(unrelated|btw|by the way|also unrelated|on another note|changing (the )?subject)\b",
    re.IGNORECASE,
)
# Words that point back at something said before.
REFERRING = frozenset(
    ["it", "its", "that", "this", "those", "these", "them", "they", "there", "then", "one", "ones", "same", "such", "he", "she", "him", "her", "his", "mine", "instead", "too", "either", "still", "else", "again", "different"]
)
FEW_WORDS = 2  # a question of this many content words or fewer leans on the turn before
SHORT = 14  # words: a question this short that points back ("is it still open?") is a follow-up
MAX_QUERY_WORDS = 60  # a long conversation's context: its latest words
WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
FUNCTION_WORDS = frozenset(
    ["a", "an", "the", "i", "me", "my", "we", "our", "you", "your", "is", "are", "was", "were", "be", "been", "am", "do", "does", "did", "can", "could", "should", "would", "will", "what", "how", "when", "where", "which", "who", "why", "whats", "to", "of", "in", "on", "at", "for", "from", "with", "by", "about", "as", "if", "or", "not", "no", "yes", "have", "has", "had", "get", "got", "there", "here", "any", "some", "much", "many", "more", "most"]
)


@dataclass(frozen=True)
class InContext:
    """A question as routing and search read it: `query` is the question in context
    (the question itself when it stands alone); `follows` says whether it leaned on the
    turn before."""

    question: str
    query: str
    follows: bool


def in_context(question: str, previous: str | None) -> InContext:
    """`question` as routing and search should read it, after `previous` (the turn
    before's question in context; None at a conversation's start)."""
    if previous is None or not is_follow_up(question):
        return InContext(question, question, False)
    words = f"{previous} {question}".split()
    return InContext(question, " ".join(words[-MAX_QUERY_WORDS:]), True)


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on the turn before: it opens as a continuation, points
    back ("it", "that", "there"), or says too little to stand alone."""
    # "IT" in capitals is the department, not a word that points back
    words = [word.casefold() for word in WORD.findall(question) if word != "IT"]
    content = [word for word in words if word not in FUNCTION_WORDS and word not in REFERRING]
    if NEW_TOPIC.match(question):
        return False
    points_back = len(words) <= SHORT and any(word in REFERRING for word in words)
    return bool(CONTINUING.match(question)) or points_back or len(content) <= FEW_WORDS
