"""Per-chat pacing of replies: Telegram allows a short burst, then about one message a second.

`ChatPacer` is bookkeeping only (no I/O, no asyncio, the clock injected): a generic cell
rate algorithm per chat (equivalent to Telegram's token bucket of `burst` messages refilled
at one per `interval`) and the queue of messages still waiting for their turn. The PTB
layer (`handlers.telegram`) sends what the allowance permits at once and drains the queue
from a background task.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from telegram.error import RetryAfter

from models.buttons import Message

BURST = 3  # Telegram (and the stand-in) accept three at once in a chat...
INTERVAL = 1.0  # ...then one a second
PRUNE_AT = 1024  # forget idle chats once this many are tracked


class ChatPacer:
    """When each chat may receive its next message, and what is queued for it meanwhile."""

    def __init__(
        self,
        burst: int = BURST,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = max(1, burst)
        self.interval = max(0.0, interval)
        self.clock = clock
        self._tat: dict[int, float] = {}  # theoretical arrival time of the next send
        self.queues: dict[int, deque[Message]] = {}
        self.draining: set[int] = set()  # chats whose queue a background task is sending

    @classmethod
    def unpaced(cls) -> ChatPacer:
        """No pauses at all: for a Bot API without flood limits (the stand-in with them off)."""
        return cls(interval=0.0)

    @property
    def _tolerance(self) -> float:
        """How far ahead of its theoretical time a send may go: the burst allowance."""
        return (self.burst - 1) * self.interval

    def wait(self, chat_id: int) -> float:
        """Seconds until this chat may receive another message (0 when it may now)."""
        now = self.clock()
        return max(0.0, self._tat.get(chat_id, now) - self._tolerance - now)

    def take(self, chat_id: int) -> None:
        """Count one send to this chat now (call just before sending)."""
        now = self.clock()
        self._tat[chat_id] = max(self._tat.get(chat_id, now), now) + self.interval
        if len(self._tat) > PRUNE_AT:
            self._tat = {c: t for c, t in self._tat.items() if t > now}

    def settle(self, chat_id: int, started: float) -> None:
        """A send took time: count it as made when it finished, as Telegram may have."""
        if chat_id in self._tat:
            self._tat[chat_id] += max(0.0, self.clock() - started)

    def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram said wait: nothing more to this chat for `seconds`, then one at a time."""
        now = self.clock()
        self._tat[chat_id] = max(self._tat.get(chat_id, now), now + seconds + self._tolerance)

    def busy(self, chat_id: int) -> bool:
        """Messages are queued for this chat: new ones go behind them, keeping the order."""
        return chat_id in self.queues

    def split(self, chat_id: int, messages: list[Message]) -> list[Message]:
        """The messages that may go now (each counted); the rest queue for the background."""
        if self.busy(chat_id):
            self.queues[chat_id].extend(messages)
            return []
        now: list[Message] = []
        while len(now) < len(messages) and self.wait(chat_id) <= 0:
            self.take(chat_id)
            now.append(messages[len(now)])
        if len(now) < len(messages):
            self.queues[chat_id] = deque(messages[len(now) :])
        return now

    def requeue(self, chat_id: int, messages: list[Message]) -> None:
        """Put messages that could not go now at the front of the chat's queue."""
        queue = self.queues.setdefault(chat_id, deque())
        queue.extendleft(reversed(messages))


def retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 gives int or timedelta depending on an opt-in; accept both quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
