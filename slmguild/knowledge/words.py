"""The words of a text that say something: lower-cased, stemmed (Snowball), stop words aside.

What passages are ranked by besides their embedding (`passages`), and what an answer's
sentences are checked against (`slmguild.agents.answer_check`): "expires", "expiry" and
"expired" are one word to both.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_WORD = re.compile(r"[a-z][a-z'-]+")
_STOP_WORDS = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "then", "than", "that", "this", "these", "those", "there", "here", "of", "to", "in", "on", "at", "by", "for", "from", "with", "without", "within", "into", "onto", "over", "under", "about", "as", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "done", "have", "has", "had", "having", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "not", "no", "yes", "you", "your", "yours", "we", "our", "us", "they", "them", "their", "it", "its", "he", "she", "his", "her", "i", "me", "my", "so", "such", "also", "only", "just", "very", "more", "most", "less", "least", "any", "all", "each", "every", "some", "other", "another", "which", "who", "whom", "whose", "what", "when", "where", "why", "how", "one", "ones", "get", "gets", "got", "use", "used", "using", "please", "need", "needs", "want", "wants"]
)


_THREAD = threading.local()


def stemmer(language: str = "english") -> Any:
    """This thread's Snowball stemmer for `language`. A stemmer keeps the word it works on
    in its own fields: threads that shared one (the parts of a multi-expert turn,
    concurrent sessions) garbled each other's words and crashed mid-word."""
    stemmers: dict[str, Any] = _THREAD.__dict__.setdefault("stemmers", {})
    if language not in stemmers:
        import snowballstemmer  # imports every language's stemmer (~0.1 s): not at start-up

        stemmers[language] = snowballstemmer.stemmer(language)
    return stemmers[language]


def content_words(text: str) -> list[str]:
    """The stemmed words of `text` that say something (no stop words, no figures)."""
    words = [word.strip("'-") for word in _WORD.findall(text.lower())]
    return stemmer().stemWords([word for word in words if len(word) > 2 and word not in _STOP_WORDS])
