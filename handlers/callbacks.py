"""Compact, versioned callback codes for inline buttons (Telegram allows 64 bytes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "v1"
MAX_BYTES = 64

# Action codes. Owner actions first, then manager and IRO actions.
SUBMITTED = "sub"
WILL_BE_LATE = "late"
LATE_REASON = "lr"
LATE_DATE = "ld"
NEED_HELP = "help"
RESPONDED = "resp"
REVIEW_CONTINUES = "rvc"
REVIEW_EXIT = "rvx"
REVIEW_ENDED = "rve"
ACKNOWLEDGE = "ack"
RESOLVED = "res"
NOT_RESOLVED = "nres"
ESCALATE = "esc"
CHASED = "chs"
REPORT_IN = "rin"
REARRANGE = "rar"
ALERT_DRAFT = "al"

ACTIONS = frozenset(
    {
        SUBMITTED,
        WILL_BE_LATE,
        LATE_REASON,
        LATE_DATE,
        NEED_HELP,
        RESPONDED,
        REVIEW_CONTINUES,
        REVIEW_EXIT,
        REVIEW_ENDED,
        ACKNOWLEDGE,
        RESOLVED,
        NOT_RESOLVED,
        ESCALATE,
        CHASED,
        REPORT_IN,
        REARRANGE,
        ALERT_DRAFT,
    }
)

_ARG = re.compile(r"[A-Za-z0-9_.\-]{0,40}")  # fullmatch: `$` would let a trailing newline in
_ITEM = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() takes "²", which int() refuses
_STAGE = re.compile(r"[0-9]{1,3}")


class CallbackTooLong(ValueError):
    """Raised at render time so an over-long code never reaches Telegram."""


@dataclass(frozen=True)
class Callback:
    """A decoded button press: which action, on which item, at which stage."""

    action: str
    item_id: int
    stage: int
    arg: str = ""

    def encode(self) -> str:
        """`v1:act:id:stage[:arg]`, refused if over 64 bytes or with unsafe characters."""
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        if not _ARG.fullmatch(self.arg):
            raise ValueError(f"unsafe callback argument {self.arg!r}")
        if not (0 <= self.item_id < 10**12 and 0 <= self.stage < 1000):
            raise ValueError(f"item {self.item_id} or stage {self.stage} would not decode")
        parts = [VERSION, self.action, str(self.item_id), str(self.stage)]
        if self.arg:
            parts.append(self.arg)
        data = ":".join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise CallbackTooLong(data)
        return data


def encode(action: str, item_id: int, stage: int = 0, arg: str = "") -> str:
    """Shorthand for building a button's data."""
    return Callback(action, item_id, stage, arg).encode()


def decode(data: str | None) -> Callback | None:
    """The press, or None for anything forged, truncated or from an older bot version.

    Never raises, whatever the text: every code we make is ASCII, so anything else is forged.
    """
    if not data or not data.isascii() or len(data) > MAX_BYTES:
        return None
    parts = data.split(":")
    if len(parts) not in (4, 5) or parts[0] != VERSION or parts[1] not in ACTIONS:
        return None
    if not (_ITEM.fullmatch(parts[2]) and _STAGE.fullmatch(parts[3])):
        return None
    arg = parts[4] if len(parts) == 5 else ""
    if not _ARG.fullmatch(arg) or (len(parts) == 5 and not arg):
        return None
    return Callback(parts[1], int(parts[2]), int(parts[3]), arg)
