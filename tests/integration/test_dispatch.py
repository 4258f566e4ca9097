"""Dispatch: claim, pace, send, record; holds, retries, blocks and crashes never lose a row.

The fake phones sit behind `PacedSender`, the same pacing rule the bot's rate limiter puts
Telegram behind, on a simulated clock; the HTTP tests give the real bot's limiter one too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, select

from bot.context import AppContext
from bot.settings import Settings
from handlers.ratelimit import RateLimiter
from handlers.sender import TelegramSender, build_bot
from models.audit import SYSTEM
from models.buttons import Keyboard, Message
from models.tables import AuditEvent, Notification, Staff
from models.vocabulary import FAILED, PENDING, SENDING, SENT
from scheduler.caseload import load_caseload
from scheduler.dispatch import (
    MAX_ATTEMPTS,
    DispatchResult,
    backoff_seconds,
    dispatch_pass,
    release_held,
)
from scheduler.figures import Rules, figures_by_team
from scheduler.notify import enqueue
from scheduler.pacing import PacedSender, Pacing
from scheduler.senders import (
    SendBadRequest,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    SendUnauthorized,
    SendUnknown,
)
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.db import backend

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 10:00 in London (GMT)
TOKEN = "123456:TEST"


@dataclass
class Sent:
    """One message the fake phone network accepted."""

    chat_id: int
    text: str
    keyboard: Keyboard | None
    photo: bytes | None
    at: float
    message_id: int


@dataclass
class FakeSender:
    """In-memory phones: records deliveries at pacing time and raises scripted failures.

    `paced` is these phones behind the one pacing rule (what dispatch sends through);
    `clock` is that pacing's, so `at` is when each message went.
    """

    clock: Callable[[], float]
    paced: PacedSender = field(init=False)
    delivered: list[Sent] = field(default_factory=list)
    failures: dict[int, list[Exception]] = field(default_factory=dict)
    stalls: dict[int, asyncio.Event] = field(default_factory=dict)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0
    _next: int = 100

    @classmethod
    def on(cls, pacing: Pacing) -> FakeSender:
        """Phones behind this pacing, on its clock."""
        fake = cls(clock=pacing.now)
        fake.repace(pacing)
        return fake

    def repace(self, pacing: Pacing) -> None:
        """Put the phones behind another pacing (a fresh clock, say)."""
        self.clock = pacing.now
        self.paced = PacedSender(self, pacing)

    def fail(self, chat_id: int, *errors: Exception) -> None:
        """The next sends to this chat raise these, in order."""
        self.failures.setdefault(chat_id, []).extend(errors)

    def stall(self, chat_id: int) -> asyncio.Event:
        """The next send to this chat waits for its reply until the returned event is set."""
        self.stalls[chat_id] = asyncio.Event()
        return self.stalls[chat_id]

    async def send(
        self, chat_id: int, text: str, keyboard: Keyboard | None, photo: bytes | None = None
    ) -> int:
        """Fail as scripted, else accept the message."""
        self.calls += 1
        at = self.clock()
        self.started.set()
        stall = self.stalls.pop(chat_id, None)
        if stall is not None:
            await stall.wait()
        await asyncio.sleep(0)
        queue = self.failures.get(chat_id)
        if queue:
            raise queue.pop(0)
        self._next += 1
        self.delivered.append(Sent(chat_id, text, keyboard, photo, at, self._next))
        return self._next

    def texts(self, chat_id: int) -> list[str]:
        """What one chat received, in order."""
        return [d.text for d in self.delivered if d.chat_id == chat_id]


def add_staff(
    ctx: AppContext,
    staff_id: str,
    *,
    chat_id: int | None,
    manager_id: str | None = None,
    active: bool = True,
    role: str = "social_worker",
) -> None:
    """A member of staff, linked to `chat_id` unless it is None."""
    with ctx.session() as session:
        session.add(
            Staff(
                staff_id=staff_id,
                name=f"Person {staff_id}",
                role=role,
                manager_id=manager_id,
                team="North",
                active=active,
                telegram_user_id=chat_id,
                chat_id=chat_id,
            )
        )


def queue(
    ctx: AppContext,
    recipient: str,
    key: str,
    *,
    at: datetime = MONDAY_10,
    keyboard: Iterable[Iterable[tuple[str, str]]] | None = None,
    photo: bytes | None = None,
) -> None:
    """Enqueue one message through the real outbox."""
    rows = [list(row) for row in keyboard] if keyboard else None
    with ctx.session() as session:
        enqueue(
            session,
            key=key,
            recipient_id=recipient,
            kind="reminder",
            message=Message(text=f"text of {key}", keyboard=rows),
            at=at,
            cal=ctx.calendar,
            hours=ctx.hours,
            photo=photo,
        )


def outbox(ctx: AppContext) -> dict[str, Notification]:
    """Every outbox row by key."""
    with Session(ctx.engine) as session:
        return {n.key: n for n in session.exec(select(Notification)).all()}


def audit(ctx: AppContext, action: str) -> list[AuditEvent]:
    """Audit events of one action, oldest first."""
    with Session(ctx.engine) as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)  # type: ignore[arg-type]
        return list(session.exec(stmt).all())


def reported_failures(ctx: AppContext) -> int:
    """The service's "Msgs failed" figure in `irobot report` for the week of MONDAY_10."""
    start, end = MONDAY_10 - timedelta(days=1), MONDAY_10 + timedelta(days=7)
    with Session(ctx.engine) as session:
        rows = load_caseload(session, ctx.policy, start=start, end=end, now=end)
    service = figures_by_team(rows, Rules.of(ctx.policy), start=start, end=end, now=end)[-1]
    return service.notifications_failed


async def run(
    ctx: AppContext, sender: FakeSender, *, now: datetime = MONDAY_10, **kwargs: object
) -> DispatchResult:
    """One pass through the fake phones' simulated pacing."""
    return await dispatch_pass(
        ctx.engine,
        sender.paced,
        ctx.policy,
        now=now,
        worker_id="w1",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def sender() -> FakeSender:
    """A fake network on a simulated clock: pacing is exercised without real sleeping."""
    return FakeSender.on(Pacing.virtual())


async def test_a_due_message_to_a_linked_person_is_sent_recorded_and_audited(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1", keyboard=[[("Submitted", "sub:1:0:")]])

    result = await run(ctx, sender)

    assert result.sent == 1 and result.claimed == 1
    [sent] = sender.delivered
    assert (sent.chat_id, sent.text, sent.keyboard) == (
        501,
        "text of k1",
        [[("Submitted", "sub:1:0:")]],
    )
    row = outbox(ctx)["k1"]
    assert row.status == SENT
    assert (row.chat_id, row.telegram_message_id) == (501, sent.message_id)
    assert row.sent_at is not None and row.sent_at >= MONDAY_10
    assert row.attempts == 1 and row.claimed_by is None
    [event] = audit(ctx, "message_sent")
    assert event.notification_id == row.id and event.actor == SYSTEM
    assert json.loads(event.detail)["message_id"] == sent.message_id


async def test_a_second_pass_sends_nothing_again(ctx: AppContext, sender: FakeSender) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    await run(ctx, sender)

    again = await run(ctx, sender, now=MONDAY_10 + timedelta(minutes=5))

    assert again.claimed == 0 and len(sender.delivered) == 1


async def test_a_message_not_yet_due_is_left_alone(ctx: AppContext, sender: FakeSender) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "later", at=MONDAY_10 + timedelta(hours=1))

    result = await run(ctx, sender)

    assert result.claimed == 0 and sender.delivered == []
    assert outbox(ctx)["later"].status == PENDING


async def test_nothing_is_sent_outside_working_hours_and_it_goes_at_the_next_opening(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    with ctx.session() as session:  # a row that skipped quiet hours when it was queued
        enqueue(
            session,
            key="weekend",
            recipient_id="sw1",
            kind="info",
            message=Message("weekend"),
            at=saturday,
            cal=ctx.calendar,
            hours=ctx.hours,
            quiet_hours=False,
        )

    on_saturday = await run(ctx, sender, now=saturday)
    monday_early = await run(ctx, sender, now=datetime(2026, 11, 30, 7, 59, tzinfo=UTC))
    monday_opening = await run(ctx, sender, now=datetime(2026, 11, 30, 8, 0, tzinfo=UTC))

    assert on_saturday.quiet and on_saturday.claimed == 0
    assert monday_early.quiet and monday_early.claimed == 0
    assert monday_opening.sent == 1 and sender.texts(501) == ["weekend"]


async def test_an_evening_message_waits_for_the_next_morning(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    evening = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    queue(ctx, "sw1", "evening", at=evening)

    assert (await run(ctx, sender, now=evening)).quiet
    assert outbox(ctx)["evening"].not_before == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert (await run(ctx, sender, now=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))).sent == 1


async def test_an_unlinked_recipient_is_held_not_dropped(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=None)
    queue(ctx, "sw1", "k1")

    first = await run(ctx, sender)
    row = outbox(ctx)["k1"]
    second = await run(ctx, sender, now=row.next_attempt_at)

    assert first.held == 1 and second.held == 1 and sender.delivered == []
    row = outbox(ctx)["k1"]
    assert row.status == PENDING and row.claimed_by is None
    assert row.next_attempt_at > MONDAY_10
    assert row.last_error is not None and "not linked" in row.last_error
    assert len(audit(ctx, "message_held")) == 1  # held is audited once, not on every recheck


async def test_a_held_message_goes_once_the_person_links(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=None)
    queue(ctx, "sw1", "k1")
    await run(ctx, sender)
    with ctx.session() as session:
        person = session.get(Staff, "sw1")
        assert person is not None
        person.chat_id = 777
        session.add(person)

    result = await run(ctx, sender, now=outbox(ctx)["k1"].next_attempt_at)

    assert result.sent == 1 and sender.texts(777) == ["text of k1"]


async def test_linking_releases_held_messages_at_once_and_makes_a_blocker_reachable(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=None)
    queue(ctx, "sw1", "k1")
    await run(ctx, sender)
    soon = MONDAY_10 + timedelta(minutes=1)
    with ctx.session() as session:
        person = session.get(Staff, "sw1")
        assert person is not None
        person.chat_id, person.reachable = 777, False
        session.add(person)
        session.flush()
        assert release_held(session, "sw1", now=soon) == 1

    result = await run(ctx, sender, now=soon)

    assert result.sent == 1 and sender.texts(777) == ["text of k1"]
    with Session(ctx.engine) as session:
        person = session.get(Staff, "sw1")
        assert person is not None and person.reachable


async def test_inactive_and_unknown_recipients_are_held_too(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "gone", chat_id=502, active=False)
    queue(ctx, "gone", "k1")
    queue(ctx, "nobody", "k2")

    result = await run(ctx, sender)

    assert result.held == 2 and sender.delivered == []
    assert {r.status for r in outbox(ctx).values()} == {PENDING}


async def test_a_429_waits_the_retry_after_and_pauses_everyone(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    add_staff(ctx, "sw2", chat_id=502)
    queue(ctx, "sw1", "a")
    queue(ctx, "sw2", "b")
    sender.fail(501, SendRetryAfter(7))

    result = await run(ctx, sender)

    assert result.rate_limited == 1 and result.sent == 1
    row = outbox(ctx)["a"]
    assert row.status == PENDING and row.attempts == 0
    assert row.next_attempt_at >= MONDAY_10 + timedelta(seconds=7)
    [other] = sender.delivered
    assert other.chat_id == 502 and other.at >= 7.0  # the global bucket paused for 7 s

    later = await run(ctx, sender, now=row.next_attempt_at)
    assert later.sent == 1 and sender.texts(501) == ["text of a"]


async def test_a_transient_failure_backs_off_exponentially_and_finally_fails_visibly(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    sender.fail(501, *[SendTransient("502 Bad Gateway") for _ in range(MAX_ATTEMPTS)])

    now = MONDAY_10
    delays = []
    for _ in range(MAX_ATTEMPTS - 1):
        sender.repace(Pacing.virtual())  # a fresh clock each pass: no pacing wait skews the stamps
        result = await run(ctx, sender, now=now)
        assert result.retried == 1
        row = outbox(ctx)["k1"]
        assert row.status == PENDING
        delays.append(round((row.next_attempt_at - now).total_seconds()))
        now = row.next_attempt_at
        if not ctx.hours.is_open(now, ctx.calendar):
            now = ctx.hours.next_opening(now, ctx.calendar)
    final = await run(ctx, sender, now=now)

    assert delays == [5, 10, 20, 40, 80, 160, 320]
    assert final.failed == 1
    row = outbox(ctx)["k1"]
    assert row.status == FAILED and row.attempts == MAX_ATTEMPTS
    assert row.last_error is not None and "502" in row.last_error
    [event] = audit(ctx, "message_failed")
    assert json.loads(event.detail)["reason"] == "gave_up"


def test_backoff_doubles_from_five_seconds_and_caps_at_fifteen_minutes() -> None:
    assert [backoff_seconds(n) for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 320, 640, 900]


async def test_a_blocked_bot_marks_the_person_unreachable_and_tells_their_manager_once(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "tm1", chat_id=900, role="team_manager")
    add_staff(ctx, "sw1", chat_id=501, manager_id="tm1")
    for n in range(3):
        queue(ctx, "sw1", f"k{n}")
    sender.fail(501, SendForbidden("Forbidden: bot was blocked by the user"))

    result = await run(ctx, sender)
    later = await run(ctx, sender, now=MONDAY_10 + timedelta(minutes=1))

    assert result.blocked == 3 and result.sent == 0
    assert later.sent == 1  # the manager's notice, queued by the first pass
    assert sender.calls == 2  # one 403, then the manager: the other two never tried
    rows = outbox(ctx)
    assert [rows[f"k{n}"].status for n in range(3)] == [FAILED] * 3
    assert all("blocked" in (rows[f"k{n}"].last_error or "") for n in range(3))
    with Session(ctx.engine) as session:
        person = session.get(Staff, "sw1")
        assert person is not None and not person.reachable
        assert person.unreachable_since is not None
    [notice] = sender.texts(900)
    assert "Person sw1" in notice and "blocked" in notice
    assert [k for k in rows if k.startswith("unreachable:")] == ["unreachable:sw1:2026-11-23"]
    assert len(audit(ctx, "staff_unreachable")) == 1
    assert len(audit(ctx, "message_failed")) == 3


async def test_messages_to_someone_already_unreachable_fail_without_a_send(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    with ctx.session() as session:
        person = session.get(Staff, "sw1")
        assert person is not None
        person.reachable = False
        session.add(person)
    queue(ctx, "sw1", "k1")

    result = await run(ctx, sender)

    assert result.blocked == 1 and sender.calls == 0
    assert outbox(ctx)["k1"].status == FAILED


async def test_a_bad_request_fails_the_message_without_retrying(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    sender.fail(501, SendBadRequest("Bad Request: can't parse entities"))

    result = await run(ctx, sender)

    assert result.failed == 1
    row = outbox(ctx)["k1"]
    assert row.status == FAILED and "can't parse entities" in (row.last_error or "")
    assert json.loads(audit(ctx, "message_failed")[0].detail)["reason"] == "bad_request"


async def test_a_rejected_token_stops_the_pass_without_using_attempts(
    ctx: AppContext, sender: FakeSender
) -> None:
    for n in range(3):
        add_staff(ctx, f"sw{n}", chat_id=500 + n)
        queue(ctx, f"sw{n}", f"k{n}")
    sender.fail(500, SendUnauthorized("Unauthorized"))

    result = await run(ctx, sender)

    assert result.sent == 0 and result.errors and sender.calls == 1
    rows = outbox(ctx).values()
    assert {(r.status, r.attempts) for r in rows} == {(PENDING, 0)}


async def test_a_row_stuck_sending_is_reclaimed_only_after_its_lease(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    with ctx.session() as session:  # a worker claimed it, then died before recording
        session.execute(
            update(Notification).values(status=SENDING, claimed_by="dead", claimed_at=MONDAY_10)
        )

    within_lease = await run(ctx, sender, now=MONDAY_10 + timedelta(seconds=60))
    after_lease = await run(ctx, sender, now=MONDAY_10 + timedelta(seconds=121))

    assert within_lease.claimed == 0 and within_lease.reclaimed == 0
    assert after_lease.reclaimed == 1 and after_lease.sent == 1
    assert outbox(ctx)["k1"].status == SENT
    [again] = audit(ctx, "message_possibly_duplicated")  # the dead worker may have sent it
    assert "reclaimed" in json.loads(again.detail)["previous"]


async def test_pacing_keeps_one_message_per_second_per_chat_and_under_28_per_second_overall(
    ctx: AppContext, sender: FakeSender
) -> None:
    with ctx.session() as session:  # one transaction: 40 people, 3 messages each
        for n in range(40):
            session.add(
                Staff(staff_id=f"sw{n}", name=f"P{n}", role="social_worker", chat_id=1000 + n)
            )
        for k in range(3):
            for n in range(40):
                enqueue(
                    session, key=f"s{n}-{k}", recipient_id=f"sw{n}", kind="reminder",
                    message=Message(f"text of s{n}-{k}"), at=MONDAY_10, cal=ctx.calendar,
                    hours=ctx.hours,
                )  # fmt: skip

    result = await run(ctx, sender, max_in_flight=4)

    assert result.sent == 120
    times = sorted(d.at for d in sender.delivered)
    assert all(b - a >= 1 / 28 - 1e-9 for a, b in itertools.pairwise(times))
    for n in range(40):
        mine = [d.at for d in sender.delivered if d.chat_id == 1000 + n]
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(mine))
        assert sender.texts(1000 + n) == [f"text of s{n}-{k}" for k in range(3)]  # in order


async def test_pacing_holds_across_passes_through_one_sender(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "a")
    await run(ctx, sender)
    queue(ctx, "sw1", "b")

    await run(ctx, sender, now=MONDAY_10 + timedelta(seconds=1))

    first, second = sender.delivered
    assert second.at - first.at >= 1.0


async def test_rows_the_pass_has_no_time_for_go_back_to_the_queue(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    for k in range(5):
        queue(ctx, "sw1", f"k{k}")

    result = await run(ctx, sender, max_seconds=2.5)

    assert result.sent == 3 and result.deferred == 2
    rows = outbox(ctx)
    assert [rows[f"k{k}"].status for k in range(5)] == [SENT] * 3 + [PENDING] * 2
    assert all(rows[f"k{k}"].claimed_by is None for k in (3, 4))
    rest = await run(ctx, sender, now=MONDAY_10 + timedelta(seconds=10))
    assert rest.sent == 2 and len(sender.delivered) == 5


async def test_a_photo_goes_as_a_photo(ctx: AppContext, sender: FakeSender) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "chart", photo=b"\x89PNG...")

    await run(ctx, sender)

    assert sender.delivered[0].photo == b"\x89PNG..."


async def test_two_passes_at_once_send_each_message_once(
    ctx: AppContext, sender: FakeSender
) -> None:
    for n in range(30):
        add_staff(ctx, f"sw{n}", chat_id=1000 + n)
        queue(ctx, f"sw{n}", f"k{n}")

    results = await asyncio.gather(
        dispatch_pass(ctx.engine, sender.paced, ctx.policy, now=MONDAY_10, worker_id="a"),
        dispatch_pass(ctx.engine, sender.paced, ctx.policy, now=MONDAY_10, worker_id="b"),
    )

    assert sum(r.sent for r in results) == 30
    assert sorted(d.chat_id for d in sender.delivered) == list(range(1000, 1030))


@pytest.mark.skipif(backend() != "postgresql", reason="row locks: PostgreSQL only")
async def test_rows_locked_by_another_worker_are_skipped_not_waited_for(
    ctx: AppContext, sender: FakeSender
) -> None:
    for n in range(4):
        add_staff(ctx, f"sw{n}", chat_id=1000 + n)
        queue(ctx, f"sw{n}", f"k{n}")
    with ctx.engine.connect() as other:
        other.begin()
        locked = (
            other.execute(text("SELECT id FROM notification ORDER BY id LIMIT 2 FOR UPDATE"))
            .scalars()
            .all()
        )

        result = await run(ctx, sender)

        other.rollback()
    assert result.sent == 2 and len(locked) == 2
    assert {r.status for r in outbox(ctx).values()} == {SENT, PENDING}


# -- several workers: nobody takes over a row its worker still holds ------------------------


async def test_a_backlog_longer_than_a_lease_is_never_sent_twice_by_a_second_worker(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    for k in range(5):  # one chat: 4.4 s of pacing, longer than the other worker's lease
        queue(ctx, "sw1", f"k{k}")
    clock = {"now": 0.0}
    others: list[DispatchResult] = []

    async def sleep(seconds: float) -> None:
        """Worker a's paced wait; 3 s in, worker b (lease 2 s) runs a whole pass."""
        await asyncio.sleep(0)
        clock["now"] += seconds
        if clock["now"] >= 3.0 and not others:
            b = await dispatch_pass(
                ctx.engine, PacedSender(sender, Pacing.virtual()), ctx.policy,
                now=MONDAY_10 + timedelta(seconds=3), worker_id="b", lease_seconds=2,
            )  # fmt: skip
            others.append(b)

    tick_like = PacedSender(sender, Pacing(clock=lambda: clock["now"], sleep=sleep))
    first = await dispatch_pass(ctx.engine, tick_like, ctx.policy, now=MONDAY_10, worker_id="a")

    [second] = others
    assert sorted(sender.texts(501)) == [f"text of k{k}" for k in range(5)]  # each once
    assert second.reclaimed == 0
    assert first.sent + second.sent == 5 and first.skipped == second.sent
    assert {r.status for r in outbox(ctx).values()} == {SENT}
    assert len(audit(ctx, "message_sent")) == 5


async def test_a_slow_reply_keeps_its_claim_so_a_short_lease_elsewhere_does_not_resend_it(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    reply = sender.stall(501)
    began = time.monotonic()
    real_time = PacedSender(sender, Pacing())
    slow = asyncio.create_task(
        dispatch_pass(ctx.engine, real_time, ctx.policy, now=MONDAY_10, worker_id="a")
    )
    await asyncio.wait_for(sender.started.wait(), 5)
    await asyncio.sleep(1.5)  # the reply is still outstanding after more than b's lease

    elapsed = timedelta(seconds=time.monotonic() - began)
    other = await dispatch_pass(
        ctx.engine, PacedSender(sender, Pacing.virtual()), ctx.policy, now=MONDAY_10 + elapsed,
        worker_id="b", lease_seconds=1,
    )  # fmt: skip
    reply.set()
    first = await slow

    assert other.reclaimed == 0 and other.sent == 0
    assert first.sent == 1 and sender.texts(501) == ["text of k1"]
    assert outbox(ctx)["k1"].status == SENT
    assert audit(ctx, "message_possibly_duplicated") == []


async def test_a_row_taken_over_from_a_stalled_worker_is_not_marked_by_it(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    reply = sender.stall(501)
    stalled = asyncio.create_task(run(ctx, sender))
    await asyncio.wait_for(sender.started.wait(), 5)
    with ctx.session() as session:  # its lease ran out and worker b reclaimed and claimed it
        session.execute(
            update(Notification).values(claimed_by="b", claimed_at=MONDAY_10 + timedelta(hours=1))
        )

    reply.set()
    result = await stalled

    row = outbox(ctx)["k1"]
    assert (row.status, row.claimed_by, row.telegram_message_id) == (SENDING, "b", None)
    assert result.sent == 1 and audit(ctx, "message_sent") == []
    [event] = audit(ctx, "message_possibly_duplicated")
    assert json.loads(event.detail)["message_id"] == sender.delivered[0].message_id


async def test_a_send_cancelled_at_shutdown_is_an_unknown_outcome_sent_once_more(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    sender.stall(501)
    stopping = asyncio.create_task(run(ctx, sender))
    await asyncio.wait_for(sender.started.wait(), 5)

    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping

    row = outbox(ctx)["k1"]
    assert (row.status, row.claimed_by) == (PENDING, None)
    assert (row.last_error or "").startswith("outcome unknown")
    again = await run(ctx, sender, now=row.next_attempt_at)
    assert again.sent == 1 and len(audit(ctx, "message_possibly_duplicated")) == 1


# -- a send whose outcome is unknown goes once more, never a third time --------------------


async def test_an_unknown_outcome_is_sent_once_more_and_audited_as_possibly_duplicated(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    sender.fail(501, SendUnknown("no reply in time: Timed out"))

    first = await run(ctx, sender)
    row = outbox(ctx)["k1"]
    second = await run(ctx, sender, now=row.next_attempt_at)

    assert first.retried == 1 and first.outcome_unknown == 1
    assert row.status == PENDING and (row.last_error or "").startswith("outcome unknown")
    assert second.sent == 1 and sender.texts(501) == ["text of k1"]
    row = outbox(ctx)["k1"]
    assert (row.status, row.attempts, row.last_error) == (SENT, 2, None)
    [event] = audit(ctx, "message_possibly_duplicated")
    assert "no reply in time" in json.loads(event.detail)["previous"]
    assert len(audit(ctx, "message_sent")) == 1


async def test_an_unexpected_sender_exception_is_an_unknown_outcome_not_a_transient_failure(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    sender.fail(501, *[ValueError("cannot parse the reply") for _ in range(MAX_ATTEMPTS)])

    first = await run(ctx, sender)
    second = await run(ctx, sender, now=outbox(ctx)["k1"].next_attempt_at)
    third = await run(ctx, sender, now=MONDAY_10 + timedelta(hours=1))

    assert first.outcome_unknown == 1 and second.failed == 1 and third.claimed == 0
    assert sender.calls == 2  # sent once more, then given up: never a third copy
    row = outbox(ctx)["k1"]
    assert row.status == FAILED and "cannot parse the reply" in (row.last_error or "")
    [failed] = audit(ctx, "message_failed")
    assert json.loads(failed.detail)["reason"] == "outcome_unknown"
    assert len(audit(ctx, "message_possibly_duplicated")) == 1
    assert reported_failures(ctx) == 1  # not lost silently: `irobot report` counts it


async def test_a_transient_failure_between_two_unknown_outcomes_buys_no_third_copy(
    ctx: AppContext, sender: FakeSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    sender.fail(
        501, SendUnknown("no reply in time"), SendTransient("502 Bad Gateway"),
        SendUnknown("no reply in time"), SendUnknown("no reply in time"),
    )  # fmt: skip

    for _ in range(3):
        sender.repace(Pacing.virtual())
        await run(ctx, sender, now=outbox(ctx)["k1"].next_attempt_at)

    row = outbox(ctx)["k1"]
    assert row.status == FAILED and sender.calls == 3
    assert json.loads(audit(ctx, "message_failed")[0].detail)["reason"] == "outcome_unknown"


# -- through the Bot API stand-in over real HTTP ------------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """The stand-in with Telegram's limits on."""
    async with BotApiStandIn(token=TOKEN) as server:
        yield server


def telegram_sender(api: BotApiStandIn, pacing: Pacing, **options: float) -> TelegramSender:
    """The production sender pointed at the stand-in, its bot's limiter on this pacing."""
    settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, IROBOT_TELEGRAM_API_URL=api.base_url)
    return TelegramSender(
        build_bot(**settings.telegram(), rate_limiter=RateLimiter(pacing), **options)
    )


@pytest.fixture
async def telegram(api: BotApiStandIn) -> AsyncIterator[TelegramSender]:
    """The production sender pointed at the stand-in, paced on a simulated clock."""
    sender = telegram_sender(api, Pacing.virtual())
    yield sender
    await sender.close()


async def http_pass(
    ctx: AppContext, telegram: TelegramSender, now: datetime = MONDAY_10
) -> DispatchResult:
    """One pass through the real sender (its bot's limiter paces)."""
    return await dispatch_pass(ctx.engine, telegram, ctx.policy, now=now, worker_id="w1")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_over_http_a_flood_429_is_waited_out_and_nothing_is_lost_or_doubled(
    ctx: AppContext, api: BotApiStandIn, telegram: TelegramSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    for k in range(5):
        queue(ctx, "sw1", f"k{k}")
    # pretend there were no pacing per chat: provoke a 429
    greedy = telegram_sender(api, Pacing.virtual(chat_interval=0.0, margin=0.0))
    try:
        first = await http_pass(ctx, greedy)
    finally:
        await greedy.close()

    assert first.sent == api.chat_burst and first.rate_limited >= 1
    waiting = [r for r in outbox(ctx).values() if r.status == PENDING]
    assert waiting and all(r.next_attempt_at >= MONDAY_10 + timedelta(seconds=1) for r in waiting)
    assert all(r.attempts == 0 for r in waiting)  # a 429 is not the message's fault
    api.set_limits(False)
    later = MONDAY_10 + timedelta(minutes=1)
    while any(r.status == PENDING for r in outbox(ctx).values()):
        await http_pass(ctx, telegram, now=later)
        later += timedelta(minutes=1)
    texts = [m.text for m in api.messages(501)]
    assert sorted(texts) == [f"text of k{k}" for k in range(5)]


async def test_over_http_a_502_is_retried_and_delivered_once(
    ctx: AppContext, api: BotApiStandIn, telegram: TelegramSender
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    api.fail_next(1, 502)

    first = await http_pass(ctx, telegram)
    second = await http_pass(ctx, telegram, now=outbox(ctx)["k1"].next_attempt_at)

    assert first.retried == 1 and second.sent == 1
    [arrived] = api.messages(501)
    row = outbox(ctx)["k1"]
    assert row.status == SENT and row.telegram_message_id == arrived.message_id
    assert row.attempts == 2


async def test_over_http_a_blocked_person_is_marked_and_their_manager_told(
    ctx: AppContext, api: BotApiStandIn, telegram: TelegramSender
) -> None:
    add_staff(ctx, "tm1", chat_id=900, role="team_manager")
    add_staff(ctx, "sw1", chat_id=501, manager_id="tm1")
    queue(ctx, "sw1", "k1")
    api.block(501)

    first = await http_pass(ctx, telegram)
    second = await http_pass(ctx, telegram, now=MONDAY_10 + timedelta(minutes=1))

    assert first.blocked == 1 and second.sent == 1
    assert outbox(ctx)["k1"].status == FAILED
    [notice] = api.messages(900)
    assert notice.text is not None and "Person sw1" in notice.text


async def test_over_http_a_read_timeout_is_sent_once_more_then_fails_as_outcome_unknown(
    ctx: AppContext, api: BotApiStandIn
) -> None:
    add_staff(ctx, "sw1", chat_id=501)
    queue(ctx, "sw1", "k1")
    impatient = telegram_sender(api, Pacing.virtual(), timeout=0.3)
    api.delay(1.0)  # every reply comes after the client gave up; each send still took effect
    try:
        first = await http_pass(ctx, impatient)
        second = await http_pass(ctx, impatient, now=outbox(ctx)["k1"].next_attempt_at)
        third = await http_pass(ctx, impatient, now=MONDAY_10 + timedelta(hours=1))
    finally:
        await impatient.close()

    assert first.retried == 1 and first.outcome_unknown == 1
    assert second.failed == 1 and third.claimed == 0
    assert [m.text for m in api.messages(501)] == ["text of k1"] * 2  # at most one extra copy
    row = outbox(ctx)["k1"]
    assert row.status == FAILED and (row.last_error or "").startswith("outcome unknown")
    assert len(audit(ctx, "message_possibly_duplicated")) == 1
    [failed] = audit(ctx, "message_failed")
    assert json.loads(failed.detail)["reason"] == "outcome_unknown"


async def test_over_http_chat_not_found_marks_the_person_unreachable_and_tells_their_manager_once(
    ctx: AppContext, api: BotApiStandIn, telegram: TelegramSender
) -> None:
    add_staff(ctx, "tm1", chat_id=900, role="team_manager")
    add_staff(ctx, "sw1", chat_id=501, manager_id="tm1")
    queue(ctx, "sw1", "k1")
    queue(ctx, "sw1", "k2")
    api.fail_next(1, 400, "Bad Request: chat not found")

    first = await http_pass(ctx, telegram)
    second = await http_pass(ctx, telegram, now=MONDAY_10 + timedelta(minutes=1))
    queue(ctx, "sw1", "k3", at=MONDAY_10 + timedelta(minutes=2))
    third = await http_pass(ctx, telegram, now=MONDAY_10 + timedelta(minutes=2))

    assert first.blocked == 2 and second.sent == 1 and third.blocked == 1 and third.sent == 0
    assert len(api.calls("sendMessage")) == 2  # k1's answer, then the manager: k2, k3 unsent
    assert {outbox(ctx)[k].status for k in ("k1", "k2", "k3")} == {FAILED}
    with Session(ctx.engine) as session:
        person = session.get(Staff, "sw1")
        assert person is not None and not person.reachable
    [notice] = api.messages(900)
    assert notice.text is not None and "Person sw1" in notice.text
    assert "cannot be reached (chat not found)" in notice.text
    assert len(audit(ctx, "staff_unreachable")) == 1
    assert reported_failures(ctx) == 3
