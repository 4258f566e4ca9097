"""Delivery into an in-process transcript: the demo's implementation of the Sender interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from models.buttons import Keyboard


@dataclass
class Delivered:
    """One message as it would appear on a phone."""

    message_id: int
    chat_id: int
    at: datetime
    text: str
    buttons: list[list[tuple[str, str]]] | None
    photo: bool = False
    replies: list[str] = field(default_factory=list)
    state: str | None = None


@dataclass
class TranscriptSender:
    """Same `send` contract as TelegramSender, but the phone is a list in memory.

    Unpaced itself: the demo puts it behind `scheduler.pacing.PacedSender`, the same rule the
    bot's rate limiter applies to Telegram.
    """

    clock: Callable[[], datetime]
    delivered: list[Delivered] = field(default_factory=list)
    by_id: dict[tuple[int, int], Delivered] = field(default_factory=dict)
    _next_id: int = 1000

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: Keyboard | None,
        photo: bytes | None = None,
    ) -> int:
        """Record the message and hand back a message id, as Telegram would."""
        self._next_id += 1
        entry = Delivered(
            message_id=self._next_id,
            chat_id=chat_id,
            at=self.clock(),
            text=text,
            buttons=[list(row) for row in keyboard] if keyboard else None,
            photo=photo is not None,
        )
        self.delivered.append(entry)
        self.by_id[(chat_id, entry.message_id)] = entry
        return entry.message_id
