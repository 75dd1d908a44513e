"""The check a grounded answer passes before the user sees it.

Two things are checked against what the model was given — the selected passages, the
question and the tools' results (the *evidence*):

- **figures**: every number, amount, percentage, date, time, e-mail address, URL, phone
  extension and code (SL-403, IT-1042, PO-2027-…) in the answer must occur in the
  evidence. Figures are compared in a normal form (`5,000` = `5000`, `€150` = `150`,
  `ext. 4357` = `4357`), so a figure the model reformatted is not a false alarm. A number
  is supported only *in its own context*: some content word within `CONTEXT_WORDS` words
  of it in the answer must also stand within that reach of it in the evidence — the "128"
  of "128-bit keys" does not support "128 lines" — and not its unit alone: "10 hours" of
  an SSO session does not make "the master password's minimum length is 10 hours".
- **sentences**: each clause of each sentence must find at least `MIN_SUPPORT` of its
  content words (stemmed, stop words aside) in one passage or tool result (the question's
  words count for all). A sentence the model made up ("takes effect within 3 seconds",
  "enter a new username") brings words that no passage has. The false-alarm rate of this rule is measured by
  `benchmarks/answers.py --check` (docs/answers.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from slmguild.knowledge.sentences import split_sentences
from slmguild.knowledge.words import content_words

CONTEXT_WORDS = 4  # words either side of a number that say what it counts
MIN_SUPPORT = 0.75  # share of a clause's content words that one passage (with the question) holds
_MIN_CONTENT_WORDS = 2  # shorter clauses ("Yes.", "Call IT.") carry no claim to check

_URL = re.compile(r"https?://[^\s)\]>,;\"']+|www\.[^\s)\]>,;\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CODE = re.compile(r"\b[A-Z]{1,5}-\d[\w-]*\b")  # SL-403, IT-1042, PO-2027-0042
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")  # 5,000 / 12.5 / 08:00 / 2027-03-03 (parts)
# "1. Open ..." is a step's number, not a figure: at a line's start, or after "Heading:" in a quote.
_LIST_MARKER = re.compile(r"(?:^\s*|:\s+)\d{1,2}[.)]\s+", re.MULTILINE)
_CITATION = re.compile(r"\[[^\[\]\s]+\]")  # [vpn-password-reset]
# A made-up claim often hides in a clause of a true sentence ("..., which erases your other passwords").
_CLAUSE = re.compile(r"[,;:()]\s*|\s+(?:which|and|but|so|because|while|then|or|who|where)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    """What the check found in an answer: figures and sentences the evidence does not hold,
    and whether it adds nothing to the question — it says the question again (a small
    model's echo), or says nothing the evidence holds ("Awesome!", "Here is a response:")."""

    unsupported_figures: tuple[str, ...] = ()
    unsupported_sentences: tuple[str, ...] = ()
    adds_nothing: bool = False

    @property
    def passed(self) -> bool:
        return not self.unsupported_figures and not self.unsupported_sentences and not self.adds_nothing


class Evidence:
    """What an answer may rest on: passages and tool results, and the question, whose words
    count as support for every passage (an answer restates what it answers)."""

    def __init__(self, texts: Iterable[str], question: str = "", *, sentences: bool = True) -> None:
        texts = [text for text in texts if text]
        self.sentences = sentences  # False: figures only (a tool's JSON has few of an answer's words)
        self._asked = set(content_words(question))
        self._asked_figures = {normal for f in figures(question) for normal in _normal_forms(f)}
        said = [set(content_words(text)) for text in texts]
        self._all_said = set().union(*said)  # every content word of the evidence
        self._words = [self._asked | words for words in said] or [self._asked]
        self._figures = {normal for text in [question, *texts] for f in figures(text) for normal in _normal_forms(f)}
        self._numbers = [number for text in texts for number in numbers_in_context(text)]

    def check(self, answer: str) -> CheckResult:
        """The figures and sentences of `answer` that this evidence does not support."""
        bad_figures = [f for f in figures(answer) if not (_normal_forms(f) & self._figures)]
        bad_figures += [number for number, forms, words, unit in numbers_in_context(answer)
                        if not forms & self._asked_figures and not self._in_context(forms, words, unit)]
        bad_sentences = [
            sentence.strip()
            for sentence in split_sentences(_CITATION.sub("", answer))
            # A question back to the user ("Which ticket number is it?") claims nothing.
            if self.sentences and not sentence.rstrip().endswith("?")
            and any(self.support(clause) < MIN_SUPPORT for clause in _CLAUSE.split(sentence))
        ]
        return CheckResult(tuple(dict.fromkeys(bad_figures)), tuple(bad_sentences), self._adds_nothing(answer))

    def supported_start(self, sentence: str) -> str:
        """The longest start of `sentence` that passes the check, cut where a clause begins
        and closed with a full stop ("" when none does). A 135M model states the fact, then
        runs on into a clause of its own: "The header file of this library is libtasn1.h,
        which is available in all GNU platforms" keeps "The header file of this library is
        libtasn1.h." (7 of the 11 right drafts on the manuals' dev questions failed so)."""
        for match in reversed(list(_CLAUSE.finditer(sentence))):
            start = sentence[: match.start()].rstrip(" ,;:(")
            if start and self.check(f"{start}.").passed:
                return f"{start}."
        return ""

    def _adds_nothing(self, answer: str) -> bool:
        """Whether `answer` tells nothing that the question does not: none of its figures is
        new, and it has no content word of its own (an echo of the question) or — where
        only passages are the evidence, and it is no question back — fewer than
        `_MIN_CONTENT_WORDS` of theirs. Drafts of the 135M model that passed every other
        check on the dev questions: "Awesome!", "A: Bonjour, bonjour!", "Here is a
        response:", 'The answer is: "No."'."""
        if any(not _normal_forms(f) & self._asked_figures for f in figures(answer)):
            return False
        own = set(content_words(answer)) - self._asked
        # A question back, or an answer from a tool's result (its JSON has few of an
        # answer's words: "I could not find a ticket IT-9999."), needs a word of its own only.
        if not self._all_said or not self.sentences or answer.rstrip().endswith("?"):
            return bool(self._asked) and not own
        return len(own & self._all_said) < _MIN_CONTENT_WORDS

    def _in_context(self, forms: set[str], words: set[str], unit: set[str]) -> bool:
        """Whether a number (its normal `forms`) stands in the evidence beside one of the
        `words` the answer has around it (any occurrence will do when it has none) — and,
        where the answer says more than the number's `unit`, beside one of those other
        words: a unit names what is counted, not what it is counted of."""
        telling = words - unit or words  # the unit counts only when it is all the answer says
        return any(forms & theirs and (not telling or telling & context) for _, theirs, context, _ in self._numbers)

    def support(self, clause: str) -> float:
        """The largest share of `clause`'s content words that one text (with the question) holds;
        1 for a clause too short to claim anything."""
        words = set(content_words(clause))
        if len(words) < _MIN_CONTENT_WORDS:
            return 1.0
        return max(len(words & vocabulary) / len(words) for vocabulary in self._words)


def figures(text: str) -> list[str]:
    """The figures of `text`: URLs, e-mail addresses, codes, then numbers outside them."""
    text = _LIST_MARKER.sub(" ", _CITATION.sub(" ", text))
    found: list[str] = []
    for pattern in (_URL, _EMAIL, _CODE):
        found += [match.rstrip(".") for match in pattern.findall(text)]
        text = pattern.sub(" ", text)
    return found + _NUMBER.findall(text)


def numbers_in_context(text: str) -> list[tuple[str, set[str], set[str], set[str]]]:
    """Each number of `text` outside URLs, e-mail addresses and codes: (the number, its
    normal forms, the content words within `CONTEXT_WORDS` words of it, its own token's
    words included, and its unit: those of its own token, else of the next one: "128-bit"
    → {"bit"}, "10 hours" → {"hour"})."""
    tokens = _LIST_MARKER.sub(" ", _CITATION.sub(" ", text)).split()
    found = []
    for index, token in enumerate(tokens):
        bare = token
        for pattern in (_URL, _EMAIL, _CODE):
            bare = pattern.sub(" ", bare)
        for number in _NUMBER.findall(bare):
            window = " ".join(tokens[max(0, index - CONTEXT_WORDS): index + CONTEXT_WORDS + 1])
            unit = set(content_words(bare)) or set(content_words(" ".join(tokens[index + 1: index + 2])))
            found.append((number, _normal_forms(number), set(content_words(window)), unit))
    return found


def _normal_forms(figure: str) -> set[str]:
    """The forms a figure is matched by: lower case, without thousands separators; a time
    also as its hours and minutes (`08:00` → `8`, `0`), so "8 am" matches a passage's 08:00."""
    lowered = figure.lower().rstrip("./")
    forms = {lowered, lowered.replace(",", ""), re.sub(r"^(\d+)\.0+$", r"\1", lowered)}  # 5.0 = 5
    if _NUMBER.fullmatch(figure) and ":" in figure:
        forms |= {part.lstrip("0") or "0" for part in figure.split(":")}
    return forms
