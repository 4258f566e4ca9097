"""The one pacing rule for everything the bot sends: per chat, overall, and Telegram's flood waits.

Telegram lets a chat receive a short burst and then about one message a second, and a bot
about 30 messages a second overall (we keep to 28); a 429 says wait, and then everything
waits. `Pacing` holds that rule once, as a generic cell rate algorithm (GCRA) per chat plus
one overall, with the clock and the sleep injected so a simulated clock paces the demo and
the tests without waiting. Its users:

- `handlers.ratelimit.RateLimiter`, the PTB `BaseRateLimiter` every request of the bot passes
  (chat replies and dispatch alike, since they share one `Bot`);
- `PacedSender`, the same rule around a sender that is not Telegram (the demo's transcript,
  the tests' fake phones);
- `scheduler.dispatch`, which only asks when a chat is next free (to stop at its horizon and
  to let a busy chat not hold up the others) and leaves the pacing to the sender.

A request goes in a `Lane`: a reply someone is waiting for may use the chat's burst and waits
out a flood wait itself; an outbox message keeps a little more than the chat's interval and
hands a flood wait back to the dispatcher, which reschedules the row rather than hold its
claim. Requests to one chat go in the order they came, each waiting for the one before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from models.buttons import Keyboard
from scheduler.senders import Sender, SendRetryAfter

logger = logging.getLogger(__name__)

T = TypeVar("T")
Chat = int | str  # a chat id; PTB also accepts a channel's @username

GLOBAL_PER_SECOND = 28.0  # Telegram allows about 30 a second overall
CHAT_INTERVAL_SECONDS = 1.0  # ...and about one a second in one chat
CHAT_BURST = 3  # ...after a short burst (Telegram and the stand-in accept three at once)
OUTBOX_MARGIN_SECONDS = 0.1  # outbox messages keep 1.1 s apart in a chat: no burst, a margin
LATE_TOLERANCE = 0.02  # a send this late for its slot still books the slot (timer jitter)
PRUNE_AT = 10_000  # forget idle chats once this many are tracked


@dataclass(frozen=True)
class Lane:
    """How one request is paced: may it use the chat's burst, how often is a 429 retried."""

    name: str
    burst: bool
    retries: int


REPLY = Lane("reply", burst=True, retries=2)  # someone is waiting: three tries at most
OUTBOX = Lane("outbox", burst=False, retries=0)  # the dispatcher reschedules the row itself


class VirtualClock:
    """Monotonic time that only moves when someone sleeps: pacing without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        """The simulated clock."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Let ready tasks run at the current time first, then jump ahead instead of waiting."""
        await asyncio.sleep(0)
        self.now += max(seconds, 0.0)


class Lines:
    """One line per chat: whoever comes first goes first, each waiting for the one before.

    asyncio's locks are first come, first served; a chat's lock is dropped once nobody is in
    its line, so memory stays bounded (and no lock outlives the event loop it was made on).
    """

    def __init__(self) -> None:
        self._lines: dict[Chat, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        """How many chats have someone in their line."""
        return len(self._lines)

    @contextlib.asynccontextmanager
    async def turn(self, chat: Chat) -> AsyncIterator[None]:
        """Wait for the chat's earlier holders, then hold its line."""
        entry = self._lines.get(chat)
        lock = entry[0] if entry is not None else asyncio.Lock()
        self._lines[chat] = (lock, (entry[1] if entry is not None else 0) + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._lines[chat]
            if users <= 1:
                del self._lines[chat]
            else:
                self._lines[chat] = (lock, users - 1)


class Pacing:
    """Per chat and overall spacing, and the flood pause; one per bot so limits hold across uses.

    Each chat has a theoretical arrival time (`tat`): a reply may go up to `(burst - 1)`
    intervals ahead of it, an outbox message only `margin` after it. Overall, messages are
    spaced `1 / per_second` apart (a bucket of depth one), so any one-second window holds at
    most `per_second` + 1 of them whatever the server's window. Only requests that put a
    message in a chat are counted (the caller says which); every request waits out a pause.
    """

    def __init__(
        self,
        *,
        per_second: float = GLOBAL_PER_SECOND,
        chat_interval: float = CHAT_INTERVAL_SECONDS,
        chat_burst: int = CHAT_BURST,
        margin: float = OUTBOX_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.per_second = per_second
        self.spacing = 1.0 / per_second if per_second > 0 else 0.0
        self.chat_interval = max(0.0, chat_interval)
        self.chat_burst = max(1, chat_burst)
        self.margin = max(0.0, margin)
        self.clock = clock
        self._sleep = sleep
        self.global_next = -math.inf
        self.paused_until = -math.inf
        self.tat: dict[Chat, float] = {}
        self.lines = Lines()

    @classmethod
    def virtual(cls, **kwargs: Any) -> Pacing:
        """The same rule on a simulated clock that jumps instead of sleeping (demo, tests)."""
        clock = VirtualClock()
        return cls(clock=clock.time, sleep=clock.sleep, **kwargs)

    @classmethod
    def unpaced(cls) -> Pacing:
        """No spacing at all on the real clock: for a sender nothing paces (a test's phone)."""
        return cls(per_second=math.inf, chat_interval=0.0, margin=0.0)

    def now(self) -> float:
        """The pacing clock (monotonic, or simulated)."""
        return self.clock()

    async def sleep(self, seconds: float) -> None:
        """Wait on the pacing clock."""
        await self._sleep(seconds)

    # -- the rule ---------------------------------------------------------------------------

    def _ahead(self, lane: Lane) -> float:
        """How far before the chat's theoretical time a message in this lane may go."""
        if lane.burst:
            return (self.chat_burst - 1) * self.chat_interval
        return -self.margin

    def chat_ready(self, chat: Chat, lane: Lane = OUTBOX) -> float:
        """When this chat may next receive a message in this lane, ignoring the overall spacing."""
        tat = self.tat.get(chat)
        return -math.inf if tat is None else tat - self._ahead(lane)

    def due(self, chat: Chat | None, lane: Lane = OUTBOX) -> float:
        """The booked time before which this request may not go (may be past).

        `chat` None is a request that puts no message in a chat (an edit, an answer to a
        tap): only a flood pause holds it.
        """
        if chat is None:
            return self.paused_until
        return max(self.global_next, self.paused_until, self.chat_ready(chat, lane))

    def slot(self, chat: Chat | None, lane: Lane = OUTBOX) -> float:
        """The earliest clock time this request may go."""
        return max(self.now(), self.due(chat, lane))

    def take(self, chat: Chat | None, lane: Lane = OUTBOX) -> None:
        """Count a message to this chat going now (nothing for a request that sends none).

        Books its due time rather than the moment of waking when only timer jitter late
        (`LATE_TOLERANCE`), so sleep overshoot does not eat into the rate; anything later
        books the real time, so sends never bunch closer than the spacing minus that.
        """
        if chat is None:
            return
        now, due = self.now(), self.due(chat, lane)
        at = due if 0.0 <= now - due <= LATE_TOLERANCE else now
        self.global_next = max(self.global_next, at) + self.spacing
        self.tat[chat] = max(self.tat.get(chat, at), at) + self.chat_interval
        if len(self.tat) > PRUNE_AT:
            self.prune()

    def settle(self, chat: Chat | None, started: float) -> None:
        """A send took time: count it in its chat as made when it finished, as Telegram may."""
        if chat is not None and chat in self.tat:
            self.tat[chat] += max(0.0, self.now() - started)

    def pause(self, seconds: float, chat: Chat | None = None) -> None:
        """Telegram said 429: nothing goes for `seconds`, then that chat one at a time."""
        until = self.now() + max(seconds, 0.0)
        self.paused_until = max(self.paused_until, until)
        if chat is not None:
            held = until + self._ahead(REPLY)
            self.tat[chat] = max(self.tat.get(chat, held), held)

    def prune(self) -> None:
        """Forget chats whose spacing has elapsed, so memory stays bounded."""
        now = self.now()
        self.tat = {chat: t for chat, t in self.tat.items() if t + self.margin > now}

    # -- one request --------------------------------------------------------------------------

    async def wait_turn(self, chat: Chat | None, lane: Lane) -> None:
        """Sleep until this request's slot, then count it."""
        while (wait := self.slot(chat, lane) - self.now()) > 0:
            await self.sleep(wait)
        self.take(chat, lane)

    async def submit(
        self,
        chat: Chat | None,
        call: Callable[[], Awaitable[T]],
        *,
        lane: Lane,
        flood_wait: Callable[[Exception], float | None],
    ) -> T:
        """Make one request in its turn; a 429 pauses everything, and is retried if the lane says.

        `chat` is where the request puts a message (None: it puts none, so only a pause
        holds it); `flood_wait` reads the seconds from the caller's 429 error, None for any
        other error, which goes back to the caller untouched.
        """
        async with self.lines.turn(chat) if chat is not None else contextlib.nullcontext():
            attempt = 0
            while True:
                await self.wait_turn(chat, lane)
                started = self.now()
                try:
                    result = await call()
                except Exception as exc:
                    seconds = flood_wait(exc)
                    if seconds is None:
                        raise
                    self.pause(seconds, chat)
                    if attempt >= lane.retries:
                        raise
                    attempt += 1
                    logger.info("flood control (chat %s): retrying in %.1f s", chat, seconds)
                    continue
                self.settle(chat, started)
                return result


def pacing_of(sender: object) -> Pacing:
    """The pacing a sender goes through, for the dispatcher to plan with; unpaced if none."""
    pacing = getattr(sender, "pacing", None)
    return pacing if isinstance(pacing, Pacing) else Pacing.unpaced()


def _retry_after(exc: Exception) -> float | None:
    """The seconds of the port's flood error; None for anything else."""
    return exc.seconds if isinstance(exc, SendRetryAfter) else None


class PacedSender:
    """Any `Sender` behind the one pacing rule, as the bot's limiter puts Telegram behind it.

    For senders that are not the bot (the demo's transcript, the tests' phones), so they
    are paced, and a 429 they report pauses everything, exactly as on Telegram.
    """

    def __init__(self, sender: Sender, pacing: Pacing | None = None) -> None:
        self.sender = sender
        self.pacing = pacing if pacing is not None else Pacing()

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: Keyboard | None,
        photo: bytes | None = None,
    ) -> int:
        """Wait for this chat's outbox slot, then send through the wrapped sender."""
        return await self.pacing.submit(
            chat_id,
            lambda: self.sender.send(chat_id, text, keyboard, photo),
            lane=OUTBOX,
            flood_wait=_retry_after,
        )
