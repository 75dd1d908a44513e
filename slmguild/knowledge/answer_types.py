"""Answer types: the kind of value a question asks for, and whether a passage holds one.

"How long until I get a new phone?" asks for a duration, "which port does ssh use unless I
say otherwise?" for a number and a default, "which option ...?" for an option, "how do I
reset my VPN password?" for the steps. An embedder ranks the sentence that repeats the
question's words ("Port: Specifies the port number to connect on") above the one that
answers it ("Port: The default is 22."); a passage that holds a value of the asked kind is
what a reader is after. Classic question answering calls this answer-type matching; here
it is a handful of patterns for the values help-desk and reference documents state
(docs/answers.md). `passages.select_passages` ranks a passage up by the `weight` of each
kind it states; a grounded answer's draft that states none, where the best passage does,
gives way to that passage (`agents.grounded`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT = r"(?:working\s+|business\s+|calendar\s+)?(?:second|minute|hour|day|week|month|year|night)s?\b"
_QUANTITY = r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|thirty|sixty)"
_DURATION = rf"\b{_QUANTITY}[\s-]+{_UNIT}"
# Not "may": as a verb it is in every other policy sentence.
_WEEKDAY_OR_MONTH = (
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|june|july"
    r"|august|september|october|november|december)\b"
)


# How much a passage that states a value of an asked kind ranks up, chosen on the dev
# questions of both example guilds: the best passage held the key facts for 65 / 26 of
# their 81 / 45 answerable ones without values, 67 / 31 at 0.2 (67 / 29 at 0.1, 67 / 32 at 0.3).
VALUE = 0.2
# Steps rank up more: an embedder finds "how do I reset my VPN password?" nearer a sentence
# that says those words than the steps that do it; at 0.6 the steps rank first there, and
# the dev questions answer as before.
STEPS = 0.6


@dataclass(frozen=True)
class AnswerType:
    """A kind of value: how a question asks for it, how a passage states it, and how much a
    passage that states it ranks up."""

    name: str
    asked: re.Pattern[str]
    stated: re.Pattern[str]
    weight: float = VALUE


def _kind(name: str, asked: str, stated: str, weight: float = VALUE, flags: int = 0) -> AnswerType:
    return AnswerType(name, re.compile(asked, re.IGNORECASE), re.compile(stated, re.IGNORECASE | flags), weight)


ANSWER_TYPES = (
    _kind("duration",
          r"\bhow\s+(?:long|soon|often|quickly|frequently|far\s+(?:ahead|in\s+advance))\b"
          r"|\bhow\s+many\s+(?:working\s+|business\s+|calendar\s+)?(?:seconds|minutes|hours|days|weeks|months|years|nights)\b"
          r"|\bafter\s+how\s+(?:long|many)\b|\bdeadline\b",
          rf"{_DURATION}|\bimmediately\b|\b(?:daily|weekly|monthly|yearly)\b"),
    _kind("time", r"\bwhat\s+time\b|\bby\s+when\b|\b(?:what|which)\s+(?:day|date|weekday)\b|\bwhen\b",
          rf"\b\d{{1,2}}:\d{{2}}\b|\b\d{{1,2}}\s*(?:am|pm)\b|{_WEEKDAY_OR_MONTH}|\b\d{{4}}-\d{{2}}-\d{{2}}\b|{_DURATION}"),
    _kind("amount",
          r"\bhow\s+much\b|\b(?:limit|max(?:imum)?|cost|costs|price|rate|fee|allowance|budget|reimburse\w*|pay|paid"
          r"|worth|contribut\w*|spend)\b",
          r"(?:EUR|USD|CHF|GBP|CAD|€|\$|£)\s*\d|\d[\d,.]*\s*(?:EUR|USD|CHF|GBP|CAD|euros?|dollars?|%|€)"),
    _kind("number",
          r"\bhow\s+many\b|\bwhat\s+(?:number|level|size|port|percentage|percent|exit\s+(?:code|status)|value|default)\b"
          r"|\bwhich\s+(?:port|level|number)\b",
          r"\b\d+\b"),
    _kind("default", r"\bdefault\b|\bunless\b|\botherwise\b|\bif\s+(?:i|you)\s+(?:don'?t|do\s+not)\b", r"\bdefaults?\b"),
    _kind("email", r"\be-?mail\s+(?:address|adress)|\bwhich\s+(?:e-?mail|address)\b|\bwhat\s+address\b",
          r"[\w.+-]+@[\w-]+\.\w"),
    _kind("phone",
          r"\bphone\s+number|\bextension\b|\bnumber\s+(?:to|should\s+i|do\s+i)\s+call\b|\bwho\s+(?:do|should)\s+i\s+call\b"
          r"|\bhotline\b",
          r"\bext\.?\s*\d+|\+\d[\d\s]{6,}|\b\d{3,4}\b"),
    _kind("url", r"\b(?:website|web\s+page|url|link|which\s+site|what\s+site)\b",
          r"https?://|www\.|\b[\w-]+\.(?:example|com|org|net)\b"),
    _kind("option",
          r"\b(?:which|what)\s+(?:\w+\s+)?(?:option|flag|switch|argument|parameter)s?\b"
          r"|\bwhich\s+(?:\w+\s+)?(?:command|keyword|directive)\b",
          r"(?<![\w-])--?[A-Za-z][\w-]*"),
    _kind("file",
          r"\b(?:which|what)\s+(?:\w+\s+)?(?:file|directory|folder|path)\b"
          r"|\bwhere\s+(?:is|are|does|do)\b.*\b(?:file|config\w*|stored|kept|saved|read)\b",
          r"(?:~?/|\./)[\w./-]+|\b[\w-]+\.(?:conf|cfg|xml|ini|rc|txt)\b"),
    # Two numbered steps or more: the first at a line's start or after "Heading: ".
    _kind("steps",
          r"\bhow\s+(?:do|can|should|would|could|to)\b|\bwhat\s+(?:are\s+)?the\s+steps\b|\bsteps\s+(?:to|for)\b",
          r"(?:^|:\s)\s*\d{1,2}[.)]\s.*?^\s*\d{1,2}[.)]\s", STEPS, re.MULTILINE | re.DOTALL),
)


def asked_types(question: str) -> tuple[AnswerType, ...]:
    """The kinds of value `question` asks for (none: it asks for no particular kind)."""
    return tuple(kind for kind in ANSWER_TYPES if kind.asked.search(question))


def stated(kinds: tuple[AnswerType, ...], text: str) -> tuple[AnswerType, ...]:
    """The kinds of `kinds` that `text` states a value of ("The default is 22." states a
    default and a number)."""
    return tuple(kind for kind in kinds if kind.stated.search(text))
