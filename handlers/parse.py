"""Understand a short text reply to a reminder (`done`, `submitted`, `late sick`) despite typos.

Pure: no clock, no database. Replies arrive from phones, so the matcher forgives the typos
a phone keyboard makes (a neighbouring key, a dropped, doubled or swapped letter) but not
a different word: "none" is not "done" and "date" is not "late", because acting on the
wrong item is worse than asking again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

DONE: Literal["done"] = "done"
LATE: Literal["late"] = "late"


# Words that mean "the report is in" (first word of the reply).
_DONE_WORDS = ("done", "submitted", "submit", "sent", "completed", "complete", "uploaded")
_LATE_WORDS = ("late", "delayed", "delay", "overdue")
# Harmless lead-ins ("report submitted", "it's done") and tails ("done, thanks").
_DONE_LEAD = frozenset(
    {
        "report",
        "its",
        "it",
        "is",
        "has",
        "been",
        "all",
        "ive",
        "i",
        "have",
        "just",
        "was",
        "yes",
        "ok",
        "okay",
        "the",
    }
)
_DONE_TAIL = frozenset(
    {
        "thanks",
        "thank",
        "you",
        "ta",
        "cheers",
        "now",
        "today",
        "already",
        "x",
        "ok",
        "okay",
        "and",
        "the",
        "report",
        "all",
        "it",
        "is",
        "has",
        "been",
    }
)
_LATE_LEAD = frozenset(
    {
        "report",
        "its",
        "it",
        "is",
        "will",
        "be",
        "running",
        "im",
        "i",
        "am",
        "going",
        "to",
        "the",
        "a",
        "bit",
        "sorry",
        "ill",
        "ok",
        "okay",
    }
)
_NEGATIONS = frozenset({"not", "no", "never", "nope", "cant", "cannot", "wont", "isnt", "havent"})

# Reason words, checked with the same typo tolerance; anything else given is "other".
_REASON_WORDS: dict[str, str] = {
    "sick": "illness",
    "ill": "illness",
    "illness": "illness",
    "unwell": "illness",
    "poorly": "illness",
    "covid": "illness",
    "workload": "workload",
    "busy": "workload",
    "caseload": "workload",
    "capacity": "workload",
    "work": "workload",
    "awaiting": "awaiting_info",
    "waiting": "awaiting_info",
    "info": "awaiting_info",
    "information": "awaiting_info",
    "awaiting_info": "awaiting_info",
    "family": "family",
    "personal": "family",
    "leave": "family",
    "other": "other",
}

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


@lru_cache(maxsize=1)
def _neighbours() -> dict[str, frozenset[str]]:
    """Keys touching each key on a QWERTY phone keyboard (same row or the rows beside)."""
    position: dict[str, tuple[int, int]] = {}
    for row, keys in enumerate(_KEYBOARD_ROWS):
        for col, key in enumerate(keys):
            position[key] = (row, col)
    result: dict[str, frozenset[str]] = {}
    for key, (row, col) in position.items():
        near = set()
        for other, (orow, ocol) in position.items():
            if other != key and abs(orow - row) <= 1 and abs(ocol - col) <= 1:
                near.add(other)
        result[key] = frozenset(near)
    return result


def typo_distance(typed: str, word: str) -> int:
    """Edit distance where swapping for a key that is not a neighbour costs double."""
    near = _neighbours()
    rows, cols = len(typed) + 1, len(word) + 1
    dist = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        dist[i][0] = i
    for j in range(cols):
        dist[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            a, b = typed[i - 1], word[j - 1]
            if a == b:
                sub = 0
            elif b in near.get(a, frozenset()):
                sub = 1
            else:
                sub = 2
            best = min(dist[i - 1][j] + 1, dist[i][j - 1] + 1, dist[i - 1][j - 1] + sub)
            if i > 1 and j > 1 and a == word[j - 2] and typed[i - 2] == b:
                best = min(best, dist[i - 2][j - 2] + 1)
            dist[i][j] = best
    return dist[-1][-1]


def _allowed(word: str) -> int:
    """How many typos a word of this length may carry and still be recognised."""
    if len(word) <= 3:
        return 0
    return 1 if len(word) <= 6 else 2


def closest(token: str, words: tuple[str, ...] | frozenset[str]) -> str | None:
    """The word `token` most plausibly is (exact, or within the typo allowance), or None."""
    if token in words:
        return token
    best: tuple[int, str] | None = None
    for word in words:
        if abs(len(word) - len(token)) > 2:
            continue
        distance = typo_distance(token, word)
        if distance <= _allowed(word) and (best is None or distance < best[0]):
            best = (distance, word)
    return best[1] if best else None


def tokens(text: str) -> list[str]:
    """Lower-case words with accents, punctuation and emoji dropped ("Done." -> ["done"])."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = folded.lower().replace("'", "").replace("’", "")
    return re.findall(r"[a-z_]+", folded)


@dataclass(frozen=True)
class ReplyIntent:
    """What a text reply asks for: the item is in, or it will be late (with a reason code)."""

    kind: Literal["done", "late"]
    reason: str | None = None


def reason_code(words: list[str]) -> str:
    """The late-reason code the words name; "other" when none is recognised."""
    for word in words:
        found = closest(word, frozenset(_REASON_WORDS))
        if found:
            return _REASON_WORDS[found]
    return "other"


def parse_reply(text: str | None) -> ReplyIntent | None:
    """`done`/`submitted` -> done; `late [reason]` -> late; anything else -> None."""
    if not text or len(text) > 500:
        return None
    words = tokens(text)
    if not words or any(word in _NEGATIONS for word in words):
        return None
    late_at = _first_after(words, _LATE_LEAD, _LATE_WORDS)
    if late_at is not None:
        rest = words[late_at + 1 :]
        return ReplyIntent(LATE, reason_code(rest) if rest else None)
    done_at = _first_after(words, _DONE_LEAD, _DONE_WORDS)
    if done_at is not None:
        extra = [
            w for w in words[done_at + 1 :] if w not in _DONE_TAIL and not closest(w, _DONE_WORDS)
        ]
        return ReplyIntent(DONE) if not extra else None
    return None


def _first_after(words: list[str], lead: frozenset[str], targets: tuple[str, ...]) -> int | None:
    """Index of the first target word once a harmless lead-in has been skipped, else None."""
    for index, word in enumerate(words):
        if closest(word, targets):
            return index
        if word not in lead:
            return None
    return None
