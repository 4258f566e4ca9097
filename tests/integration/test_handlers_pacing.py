"""The one pacing rule and the bot's rate limiter: per chat, overall, lanes, flood waits, order.

`scheduler.pacing.Pacing` is pure bookkeeping on an injected clock, so most of these move a
clock by hand; the rest run requests through it on a simulated clock, without waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.app import build_application
from bot.context import AppContext
from handlers.ratelimit import RateLimiter, counted_chat
from models.buttons import Keyboard
from scheduler.pacing import OUTBOX, REPLY, Lane, Lines, PacedSender, Pacing, pacing_of
from scheduler.senders import SendRetryAfter

# PTB 22 warns about retry_after's future type from inside its own RetryAfter.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        """The current test time."""
        return self.now


def wait(pacing: Pacing, chat: int | None, lane: Lane = REPLY) -> float:
    """Seconds until a request in this lane may go to this chat (0 when it may now)."""
    return pacing.slot(chat, lane) - pacing.now()


def per_chat(ticks: Ticks, **options: Any) -> Pacing:
    """The per-chat rule alone (no overall spacing), on the hand-moved clock."""
    return Pacing(per_second=math.inf, clock=ticks, **options)


def test_a_quiet_chat_takes_a_burst_of_three_replies_at_once() -> None:
    pacing = per_chat(Ticks())
    for _ in range(3):
        assert wait(pacing, 1) == 0.0
        pacing.take(1, REPLY)
    assert wait(pacing, 1) == 1.0


@pytest.mark.parametrize(
    ("after", "allowed", "then_wait"),
    [
        (0.0, 0, 1.0),
        (0.5, 0, 0.5),
        (1.0, 1, 1.0),  # one a second once the burst is spent
        (3.0, 3, 1.0),
        (60.0, 3, 1.0),  # the allowance refills to three, never more
    ],
)
def test_after_a_burst_the_allowance_refills_one_a_second(
    after: float, allowed: int, then_wait: float
) -> None:
    ticks = Ticks()
    pacing = per_chat(ticks)
    for _ in range(3):
        pacing.take(1, REPLY)
    ticks.now += after
    taken = 0
    while wait(pacing, 1) == 0.0:
        pacing.take(1, REPLY)
        taken += 1
    assert (taken, wait(pacing, 1)) == (allowed, pytest.approx(then_wait))


def test_each_chat_has_its_own_allowance() -> None:
    pacing = per_chat(Ticks())
    for _ in range(3):
        pacing.take(1, REPLY)
    assert wait(pacing, 1) == 1.0 and wait(pacing, 2) == 0.0


def test_outbox_messages_never_burst_and_keep_a_margin_over_the_interval() -> None:
    ticks = Ticks()
    pacing = per_chat(ticks)
    pacing.take(1, OUTBOX)
    assert wait(pacing, 1, OUTBOX) == pytest.approx(1.1)
    ticks.now += 1.1
    pacing.take(1, OUTBOX)
    assert wait(pacing, 1, OUTBOX) == pytest.approx(1.1)


def test_a_reply_and_an_outbox_message_to_one_chat_share_its_allowance() -> None:
    ticks = Ticks()
    pacing = per_chat(ticks)
    pacing.take(1, OUTBOX)  # a reminder went just now: two of the burst remain for a reply
    for _ in range(2):
        assert wait(pacing, 1, REPLY) == 0.0
        pacing.take(1, REPLY)
    assert wait(pacing, 1, REPLY) == pytest.approx(1.0)
    assert wait(pacing, 1, OUTBOX) == pytest.approx(3.1)  # and the next reminder waits for all


def test_overall_messages_are_spaced_to_28_a_second_across_chats() -> None:
    ticks = Ticks()
    pacing = Pacing(clock=ticks)
    sent = []
    for chat in itertools.islice(itertools.cycle(range(50)), 200):
        ticks.now += wait(pacing, chat)
        pacing.take(chat, REPLY)
        sent.append(ticks.now)
    assert all(b - a >= 1 / 28 - 1e-9 for a, b in itertools.pairwise(sent))
    in_any_second = max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent)
    assert in_any_second <= 29


def test_a_send_a_little_late_for_its_slot_still_books_the_slot() -> None:
    ticks = Ticks()
    pacing = Pacing(clock=ticks)
    pacing.take(1, OUTBOX)
    ticks.now += 1 / 28 + 0.01  # timer jitter: booked at its slot, the rate is kept
    pacing.take(2, OUTBOX)
    assert pacing.global_next == pytest.approx(100 + 2 / 28)
    ticks.now += 1.0  # much later: booked when it went
    pacing.take(3, OUTBOX)
    assert pacing.global_next == pytest.approx(ticks.now + 1 / 28)


def test_a_slow_send_counts_from_when_it_finished() -> None:
    ticks = Ticks()
    pacing = per_chat(ticks, chat_burst=1)
    started = ticks.now
    pacing.take(1, REPLY)
    ticks.now += 0.4
    pacing.settle(1, started)
    assert wait(pacing, 1) == pytest.approx(1.0)


def test_a_flood_wait_holds_the_chat_then_allows_one_at_a_time() -> None:
    ticks = Ticks()
    pacing = per_chat(ticks)
    pacing.pause(5, 1)
    assert wait(pacing, 1) == 5.0
    ticks.now += 5
    pacing.take(1, REPLY)
    assert wait(pacing, 1) == pytest.approx(1.0)


def test_a_flood_wait_pauses_every_chat_and_every_request() -> None:
    ticks = Ticks()
    pacing = Pacing(clock=ticks)
    pacing.pause(7, 1)
    assert wait(pacing, 2, OUTBOX) == 7.0 and wait(pacing, None) == 7.0  # e.g. an edit
    ticks.now += 7
    assert wait(pacing, 2, OUTBOX) == 0.0 and wait(pacing, None) == 0.0


def test_requests_that_put_no_message_in_a_chat_are_never_counted() -> None:
    pacing = Pacing(clock=Ticks())
    for _ in range(100):
        pacing.take(None, REPLY)
    assert wait(pacing, 1) == 0.0 and pacing.tat == {}


def test_unpaced_never_waits() -> None:
    pacing = Pacing.unpaced()
    for _ in range(20):
        assert wait(pacing, 1, OUTBOX) <= 0.0 and wait(pacing, 1, REPLY) <= 0.0
        pacing.take(1, OUTBOX)


def test_idle_chats_are_forgotten() -> None:
    ticks = Ticks()
    pacing = Pacing(clock=ticks)
    for chat in range(5):
        pacing.take(chat, OUTBOX)
    ticks.now += 60
    pacing.prune()
    assert pacing.tat == {}


# -- requests through the rule, on a simulated clock ----------------------------------------


async def test_requests_to_one_chat_go_in_the_order_they_came() -> None:
    pacing = Pacing.virtual()
    arrived: list[tuple[str, float]] = []

    async def request(name: str) -> None:
        await pacing.submit(1, lambda: note(name), lane=REPLY, flood_wait=lambda _: None)

    async def note(name: str) -> None:
        await asyncio.sleep(0)
        arrived.append((name, pacing.now()))

    await asyncio.gather(*(request(f"m{n}") for n in range(6)))

    assert [name for name, _ in arrived] == [f"m{n}" for n in range(6)]
    assert arrived[3][1] >= 1.0 and arrived[5][1] >= 3.0  # three at once, then one a second


async def test_a_line_is_first_come_first_served_and_forgotten_once_empty() -> None:
    lines, order = Lines(), []

    async def hold(name: str) -> None:
        async with lines.turn(7):
            await asyncio.sleep(0)
            order.append(name)

    await asyncio.gather(*(hold(name) for name in "abcd"))

    assert order == list("abcd") and len(lines) == 0


async def test_a_flood_wait_is_retried_twice_in_the_reply_lane_then_raised() -> None:
    pacing, calls = Pacing.virtual(), []

    async def flooded() -> None:
        calls.append(pacing.now())
        raise SendRetryAfter(2)

    with pytest.raises(SendRetryAfter):
        await pacing.submit(1, flooded, lane=REPLY, flood_wait=lambda e: getattr(e, "seconds", 0))

    assert len(calls) == REPLY.retries + 1 == 3
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(calls))


async def test_other_errors_pass_through_untouched_and_pause_nothing() -> None:
    pacing = Pacing.virtual()

    async def broken() -> None:
        raise ValueError("bad reply")

    with pytest.raises(ValueError, match="bad reply"):
        await pacing.submit(1, broken, lane=REPLY, flood_wait=lambda _: None)
    assert pacing.paused_until == -math.inf and len(pacing.lines) == 0


class Phone:
    """A sender that answers every message with 429 "retry after 3" for one chat."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(
        self, chat_id: int, text: str, keyboard: Keyboard | None, photo: bytes | None = None
    ) -> int:
        """Refuse chat 1, accept the rest."""
        if chat_id == 1:
            raise SendRetryAfter(3)
        self.sent.append(chat_id)
        return len(self.sent)


async def test_a_paced_sender_hands_a_flood_wait_back_and_pauses_everything() -> None:
    phone = Phone()
    paced = PacedSender(phone, Pacing.virtual())

    with pytest.raises(SendRetryAfter):
        await paced.send(1, "a", None)
    await paced.send(2, "b", None)

    assert phone.sent == [2] and paced.pacing.now() >= 3.0
    assert pacing_of(paced) is paced.pacing
    assert pacing_of(phone).per_second == math.inf  # a bare sender: nothing paces it


# -- the PTB limiter ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "data", "counted"),
    [
        ("sendMessage", {"chat_id": 42, "text": "x"}, 42),
        ("sendPhoto", {"chat_id": "42"}, 42),
        ("copyMessage", {"chat_id": -100123}, -100123),
        ("sendMessage", {"chat_id": "@channel"}, "@channel"),
        ("editMessageText", {"chat_id": 42, "message_id": 1}, None),
        ("answerCallbackQuery", {"callback_query_id": "q"}, None),
        ("sendChatAction", {"chat_id": 42}, None),
        ("setMyCommands", {"commands": []}, None),
    ],
)
def test_only_requests_that_put_a_message_in_a_chat_count(
    endpoint: str, data: dict[str, object], counted: int | str | None
) -> None:
    assert counted_chat(endpoint, data) == counted


async def test_the_limiter_runs_each_request_in_its_lane_and_waits_out_a_flood() -> None:
    limiter = RateLimiter(Pacing.virtual())
    calls: list[str] = []

    async def callback(endpoint: str, data: dict[str, object]) -> bool:
        calls.append(endpoint)
        if len(calls) == 1:
            raise RetryAfter(timedelta(seconds=1))
        return True

    data = {"chat_id": 42, "text": "hello"}
    done = await limiter.process_request(
        callback, ("sendMessage", data), {}, "sendMessage", data, None
    )

    assert done is True and calls == ["sendMessage", "sendMessage"]
    assert limiter.pacing.now() >= 1.0  # waited out, and then sent again
    assert wait(limiter.pacing, 42, OUTBOX) > 1.0  # the reply counted in the chat


async def test_irobot_run_sends_replies_and_dispatch_through_one_limiter(ctx: AppContext) -> None:
    settings = ctx.settings.model_copy(update={"telegram_bot_token": "123456:TEST"})
    app = build_application(AppContext(settings=settings, policy=ctx.policy, engine=ctx.engine))
    limiter = app.bot.rate_limiter

    assert isinstance(limiter, RateLimiter)
    assert pacing_of(app.bot_data["telegram_sender"]) is limiter.pacing
