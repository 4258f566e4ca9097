"""What a message is made of: text, inline buttons, and the compact callback codes behind them.

The codes are versioned and re-checked on every press (Telegram allows 64 bytes of data);
the actions they name live in the one vocabulary (`models.vocabulary.Action`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from models.vocabulary import ACTIONS, Action, button_label

VERSION = "v1"
MAX_BYTES = 64

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


Button = tuple[str, str]
Keyboard = Sequence[Sequence[Button]]


@dataclass(frozen=True)
class Message:
    """What a renderer produces: text and an optional inline keyboard of (label, data)."""

    text: str
    keyboard: Keyboard | None = None


def encode_keyboard(keyboard: Keyboard | None) -> str | None:
    """JSON for the outbox column; None when there are no buttons."""
    if not keyboard:
        return None
    return json.dumps([[list(button) for button in row] for row in keyboard])


def decode_keyboard(raw: str | None) -> list[list[Button]] | None:
    """Back from the outbox column to rows of (label, callback data)."""
    if not raw:
        return None
    return [[(str(label), str(data)) for label, data in row] for row in json.loads(raw)]


def button(
    action: Action, item_id: int, stage: int = 0, arg: str = "", *, kind: str = ""
) -> Button:
    """One inline button: its label from the vocabulary (for an item of `kind`: a review's
    stand-down names the review), its data encoded and checked."""
    return button_label(action, kind), encode(action, item_id, stage, arg)
