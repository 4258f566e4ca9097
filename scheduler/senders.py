"""The dispatcher's port to a phone: the `Sender` protocol and the failures it may report.

The Telegram implementation lives in the adapter (`handlers.sender`); the demo's transcript
is another. Nothing here knows Telegram.
"""

from __future__ import annotations

import logging
from typing import Protocol

from models.buttons import Keyboard

logger = logging.getLogger(__name__)



class SendError(Exception):
    """Base of every delivery failure the dispatcher knows how to handle."""


class SendRetryAfter(SendError):
    """Telegram's 429: wait `seconds` before sending anything else."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"flood control: retry after {seconds:g} s")
        self.seconds = float(seconds)


class SendTransient(SendError):
    """It did not go (no connection, a 5xx answer): the same message may succeed later."""


class SendUnknown(SendError):
    """It may have reached Telegram, but no usable answer came back: a resend may duplicate it."""


class SendForbidden(SendError):
    """This person cannot be reached (bot blocked, chat or account gone): retrying cannot help."""


class SendBadRequest(SendError):
    """400: this message can never be delivered as it is (bad markup, text too long)."""


class SendUnauthorized(SendError):
    """401/404 on the bot token: nothing can be sent, so stop the pass without blaming the row."""


class Sender(Protocol):
    """Anything that can put one message (optionally a photo) in one chat."""

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: Keyboard | None,
        photo: bytes | None = None,
    ) -> int:
        """Deliver and return Telegram's message id; raise a `SendError` subclass on failure."""
        ...
