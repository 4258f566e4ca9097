"""The bot's one rate limiter: every request the process makes to Telegram passes here.

A PTB `BaseRateLimiter` (installed with `ApplicationBuilder().rate_limiter(...)` for
`irobot run` and by `handlers.sender.build_bot` for tick and worker), so chat replies and
dispatch share one state on one bot and cannot exceed Telegram's limits together. The rule
itself is `scheduler.pacing.Pacing`; this adapter says which requests count and reads
Telegram's flood waits:

- a request that puts a message in a chat (`sendMessage`, `sendPhoto`, `copyMessage`, ...)
  counts in its chat and overall; edits, answers to taps and the rest do not (Telegram's
  limits are on messages, and counting an edit would cap button presses at 28 a second),
  but every request waits out a flood pause;
- the caller picks the lane with `rate_limit_args` (`scheduler.pacing.REPLY`, the default:
  a burst allowed, a flood wait waited out twice; `OUTBOX`: no burst, a flood wait handed
  back so the dispatcher reschedules the row).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from scheduler.pacing import REPLY, Chat, Lane, Pacing

logger = logging.getLogger(__name__)

# Methods that put a message in a chat besides the send* family (sendChatAction puts none).
_MESSAGE_METHODS = frozenset({"copymessage", "copymessages", "forwardmessage", "forwardmessages"})

JSON = bool | dict[str, Any] | list[dict[str, Any]]


def retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 gives int or timedelta depending on an opt-in; accept both quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _flood_wait(exc: Exception) -> float | None:
    """Telegram's seconds to wait, when the error is a flood wait."""
    return retry_seconds(exc) if isinstance(exc, RetryAfter) else None


def counted_chat(endpoint: str, data: dict[str, Any]) -> Chat | None:
    """The chat a request puts a message in, or None when it puts none."""
    method = endpoint.lower()
    if method == "sendchataction":
        return None
    if not (method.startswith("send") or method in _MESSAGE_METHODS):
        return None
    chat = data.get("chat_id")
    if isinstance(chat, bool) or not isinstance(chat, int | str):
        return None
    try:
        return int(chat)
    except ValueError:
        return chat  # a channel's @username


class RateLimiter(BaseRateLimiter[Lane]):
    """Telegram's limits for the whole bot: per chat, overall, and a 429 pauses everything."""

    def __init__(self, pacing: Pacing | None = None) -> None:
        self.pacing = pacing if pacing is not None else Pacing()

    async def initialize(self) -> None:
        """Nothing to open: the pacing state lives in memory."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Lane | None,
    ) -> JSON:
        """Make the request in its turn, in the caller's lane (a reply unless told)."""
        return await self.pacing.submit(
            counted_chat(endpoint, data),
            lambda: callback(*args, **kwargs),
            lane=rate_limit_args or REPLY,
            flood_wait=_flood_wait,
        )
