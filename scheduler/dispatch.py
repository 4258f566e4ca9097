"""Deliver the outbox: claim due rows, send them paced within Telegram's limits, record each.

Crash safety comes from the order of steps. A row is claimed (status `sending`) in one short
transaction, sent, then marked `sent` in a second one. A crash after the claim leaves the row
`sending`; once its lease runs out the next pass sends it again. So the only message that can
reach a phone twice is one that was in flight when the process died, and with the default
`max_in_flight=1` there is at most one of those per crash.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select, update
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from models.audit import SYSTEM, record
from models.db import session_scope
from models.outbox import Message, decode_keyboard, enqueue
from models.tables import FAILED, PENDING, SENDING, SENT, Notification, Obligation, Staff
from scheduler.policy import Policy
from scheduler.senders import (
    SendBadRequest,
    Sender,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    SendUnauthorized,
)

logger = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 8
BACKOFF_FIRST_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 15 * 60.0
HOLD_RECHECK = timedelta(minutes=15)
GLOBAL_PER_SECOND = 28.0
CHAT_INTERVAL_SECONDS = 1.1
LATE_TOLERANCE = 0.02
UNREACHABLE_KIND = "unreachable"


def backoff_seconds(attempts: int) -> float:
    """Delay before the next try after `attempts` transient failures: 5 s doubling, capped."""
    return min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)


class _VirtualClock:
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


class Pacer:
    """Spacing per chat and overall; one per process so the limits hold across passes too.

    Messages are spaced rather than burst (a bucket of depth one), so any one-second window
    holds at most `per_second` sends overall and one per chat, whatever the server's window.
    """

    def __init__(
        self,
        *,
        per_second: float = GLOBAL_PER_SECOND,
        chat_interval: float = CHAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.per_second = per_second
        self.chat_interval = chat_interval
        self.clock = clock
        self.sleep = sleep
        self.global_next = -math.inf
        self.paused_until = -math.inf
        self.chat_next: dict[int, float] = {}

    @classmethod
    def virtual(cls, **kwargs: Any) -> Pacer:
        """Same spacing on a simulated clock that jumps instead of sleeping (demo, tests)."""
        clock = _VirtualClock()
        return cls(clock=clock.time, sleep=clock.sleep, **kwargs)

    def chat_ready(self, chat_id: int) -> float:
        """When this chat may next receive a message, ignoring the global spacing."""
        return self.chat_next.get(chat_id, -math.inf)

    def due(self, chat_id: int) -> float:
        """The booked time before which no message may go to this chat (may be past)."""
        return max(self.global_next, self.paused_until, self.chat_ready(chat_id))

    def slot(self, chat_id: int) -> float:
        """The earliest clock time a message to this chat may go."""
        return max(self.clock(), self.due(chat_id))

    def booking(self, chat_id: int) -> float:
        """The time to book a send going now: its due time if only timer jitter late.

        Booking the due time rather than the moment of waking stops sleep overshoot from
        eating into the rate; anything later than `LATE_TOLERANCE` books the real time, so
        actual sends never bunch closer than the spacing minus that tolerance.
        """
        now, due = self.clock(), self.due(chat_id)
        return due if 0.0 <= now - due <= LATE_TOLERANCE else now

    def take(self, chat_id: int, at: float) -> None:
        """Book a send to this chat at `at`."""
        self.global_next = at + 1.0 / self.per_second
        self.chat_next[chat_id] = at + self.chat_interval
        if len(self.chat_next) > 10_000:
            self.prune()

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing goes out for `seconds`."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def prune(self) -> None:
        """Forget chats whose spacing has already elapsed, so memory stays bounded."""
        now = self.clock()
        self.chat_next = {chat: t for chat, t in self.chat_next.items() if t > now}


@dataclass
class DispatchResult:
    """What one pass did; every claimed row ends in exactly one of the counters but `claimed`."""

    claimed: int = 0
    sent: int = 0
    held: int = 0
    retried: int = 0
    rate_limited: int = 0
    failed: int = 0
    blocked: int = 0
    deferred: int = 0
    reclaimed: int = 0
    quiet: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class _Row:
    """A claimed outbox row and where it goes."""

    id: int
    key: str
    recipient_id: str
    obligation_id: int | None
    kind: str
    text: str
    keyboard: str | None
    photo: bytes | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    chat_id: int = 0
    case_ref: str | None = None


_CLAIM_COLUMNS = (
    col(Notification.id),
    col(Notification.key),
    col(Notification.recipient_id),
    col(Notification.obligation_id),
    col(Notification.kind),
    col(Notification.text),
    col(Notification.keyboard),
    col(Notification.photo),
    col(Notification.attempts),
    col(Notification.last_error),
    col(Notification.next_attempt_at),
)


def _claim(
    session: Session, *, now: datetime, worker_id: str, limit: int, lease: timedelta
) -> tuple[list[_Row], int]:
    """Reclaim expired leases, then move up to `limit` due rows to `sending` for this worker."""
    reclaimed = session.execute(
        update(Notification)
        .where(col(Notification.status) == SENDING)
        .where(col(Notification.claimed_at) < now - lease)
        .values(status=PENDING, claimed_by=None, claimed_at=None)
    ).rowcount  # type: ignore[attr-defined]
    if reclaimed:
        logger.warning("reclaimed %d notification(s) left sending past their lease", reclaimed)
    if limit <= 0:
        return [], int(reclaimed)
    due = and_(
        col(Notification.status) == PENDING,
        col(Notification.not_before) <= now,
        col(Notification.next_attempt_at) <= now,
    )
    pick = (
        select(col(Notification.id))
        .where(due)
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
    )
    claim = update(Notification).values(status=SENDING, claimed_by=worker_id, claimed_at=now)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.execute(pick.with_for_update(skip_locked=True)).scalars())
        if not ids:
            return [], int(reclaimed)
        stmt = claim.where(col(Notification.id).in_(ids))
    else:  # SQLite: one statement is atomic under the database write lock
        stmt = claim.where(col(Notification.id).in_(pick)).where(due)
    rows = [_Row(*row) for row in session.execute(stmt.returning(*_CLAIM_COLUMNS)).all()]
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    return rows, int(reclaimed)


def _record_row(session: Session, row: _Row, action: str, *, at: datetime, **detail: Any) -> None:
    """Audit what happened to one outbox row: the same identifying fields every time."""
    record(
        session,
        at=at,
        actor=SYSTEM,
        action=action,
        obligation_id=row.obligation_id,
        notification_id=row.id,
        case_ref=row.case_ref,
        recipient=row.recipient_id,
        **detail,
    )


def _update(session: Session, ids: Iterable[int], worker_id: str, **values: Any) -> int:
    """Change rows this worker still holds; returns how many it did."""
    id_list = list(ids)
    if not id_list:
        return 0
    result = session.execute(
        update(Notification)
        .where(col(Notification.id).in_(id_list))
        .where(col(Notification.status) == SENDING)
        .where(col(Notification.claimed_by) == worker_id)
        .values(**values)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


class _Pass:
    """One dispatch pass: the claimed rows, the pacing loop and the bookkeeping after each send."""

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        policy: Policy,
        *,
        now: datetime,
        worker_id: str,
        pacer: Pacer,
        max_seconds: float,
        max_in_flight: int,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.policy = policy
        self.cal = policy.calendar()
        self.hours = policy.hours()
        self.now = now
        self.worker_id = worker_id
        self.pacer = pacer
        self.start = pacer.clock()
        self.deadline = self.start + max_seconds
        self.max_in_flight = max_in_flight
        self.result = DispatchResult()
        self.blocked: set[str] = set()
        self.stop_reason: str | None = None

    def stamp(self, at: float | None = None) -> datetime:
        """Wall-clock instant of pacer time `at` (default: now), anchored on the pass's `now`."""
        elapsed = (self.pacer.clock() if at is None else at) - self.start
        return self.now + timedelta(seconds=max(elapsed, 0.0))

    # -- before sending -------------------------------------------------------------------

    def route(self, rows: Sequence[_Row]) -> list[_Row]:
        """Attach chat ids; hold rows of unlinked people, fail those of people who blocked us."""
        recipients = {row.recipient_id for row in rows}
        obligation_ids = {row.obligation_id for row in rows if row.obligation_id is not None}
        with session_scope(self.engine) as session:
            people = session.exec(
                sqlmodel_select(Staff).where(col(Staff.staff_id).in_(recipients))
            ).all()
            staff = {person.staff_id: person for person in people}
            cases: dict[int, str] = {}
            if obligation_ids:
                cases = {
                    int(oid): str(ref)
                    for oid, ref in session.execute(
                        select(col(Obligation.id), col(Obligation.case_ref)).where(
                            col(Obligation.id).in_(obligation_ids)
                        )
                    ).all()
                }
            ready: list[_Row] = []
            for row in rows:
                row.case_ref = cases.get(row.obligation_id) if row.obligation_id else None
                person = staff.get(row.recipient_id)
                if person is None:
                    self._hold(session, row, "held: recipient not in the staff list")
                elif not person.active:
                    self._hold(session, row, "held: recipient is inactive")
                elif person.chat_id is None:
                    self._hold(session, row, "held: recipient has not linked Telegram")
                elif not person.reachable:
                    self._fail(session, row, "blocked: recipient blocked the bot", "blocked")
                    self.result.blocked += 1
                else:
                    row.chat_id = int(person.chat_id)
                    ready.append(row)
        return ready

    def _hold(self, session: Session, row: _Row, reason: str) -> None:
        """Keep the row pending and look again later; audit only the first time it is held."""
        _update(
            session,
            [row.id],
            self.worker_id,
            status=PENDING,
            claimed_by=None,
            claimed_at=None,
            next_attempt_at=self.now + HOLD_RECHECK,
            last_error=reason,
        )
        if row.last_error != reason:
            _record_row(session, row, "message_held", at=self.now, reason=reason)
        self.result.held += 1

    def _fail(self, session: Session, row: _Row, error: str, reason: str) -> None:
        """Give up on one row for good; it stays in the table for `irobot report`."""
        _update(
            session,
            [row.id],
            self.worker_id,
            status=FAILED,
            claimed_by=None,
            last_error=error[:500],
            attempts=row.attempts,
        )
        _record_row(
            session,
            row,
            "message_failed",
            at=self.stamp(),
            kind=row.kind,
            reason=reason,
            error=error[:200],
            attempts=row.attempts,
        )

    def release(self, rows: Iterable[_Row], next_attempt_at: datetime | None = None) -> None:
        """Hand unsent rows back to the queue untouched (or not before `next_attempt_at`)."""
        rows = list(rows)
        if not rows:
            return
        values: dict[str, Any] = {"status": PENDING, "claimed_by": None, "claimed_at": None}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with session_scope(self.engine) as session:
            _update(session, (r.id for r in rows), self.worker_id, **values)
        self.result.deferred += len(rows)

    # -- the pacing loop ------------------------------------------------------------------

    async def run(self, rows: list[_Row]) -> None:
        """Send every row as early as the per-chat and global spacing allow, within the horizon."""
        queues: dict[int, deque[_Row]] = {}
        for row in rows:
            queues.setdefault(row.chat_id, deque()).append(row)
        heap = [(self.pacer.chat_ready(chat), n, chat) for n, chat in enumerate(queues)]
        heapq.heapify(heap)
        seq = len(heap)
        gate = asyncio.Semaphore(self.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while heap:
                _, _, chat = heapq.heappop(heap)
                queue = queues[chat]
                row = queue[0]
                if row.recipient_id in self.blocked:
                    queue.popleft()
                    self._fail_blocked(row)
                else:
                    await gate.acquire()
                    at = await self._wait_for_slot(chat)
                    if at is None:  # horizon, closing time or a rejected token: stop here
                        gate.release()
                        break
                    if row.recipient_id in self.blocked:  # a 403 arrived while we waited
                        gate.release()
                        queue.popleft()
                        self._fail_blocked(row)
                    else:
                        queue.popleft()
                        self.pacer.take(chat, at)
                        task = asyncio.create_task(self._deliver(row, at, gate))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                if queue:
                    seq += 1
                    heapq.heappush(heap, (self.pacer.chat_ready(chat), seq, chat))
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._release_leftovers(queues)

    async def _wait_for_slot(self, chat: int) -> float | None:
        """Sleep until this chat's slot; None when the pass must stop instead of sending."""
        while True:
            if self.stop_reason is not None:
                return None
            at = self.pacer.slot(chat)
            if at > self.deadline:
                return None
            if not self.hours.is_open(self.stamp(at), self.cal):
                return None
            wait = at - self.pacer.clock()
            if wait <= 0:
                return self.pacer.booking(chat)
            await self.pacer.sleep(wait)

    def _release_leftovers(self, queues: dict[int, deque[_Row]]) -> None:
        """Rows the pass had no time for go back; a busy chat's rows wait for its next slot."""
        for chat, queue in queues.items():
            if not queue:
                continue
            ready = self.pacer.chat_ready(chat)
            later = self.stamp(ready) if ready > self.pacer.clock() else None
            self.release(queue, later)
            queue.clear()

    def _fail_blocked(self, row: _Row) -> None:
        """A later message to someone who just blocked the bot: fail it without sending."""
        with session_scope(self.engine) as session:
            self._fail(session, row, "blocked: recipient blocked the bot", "blocked")
        self.result.blocked += 1

    # -- one send and its record ----------------------------------------------------------

    async def _deliver(self, row: _Row, at: float, gate: asyncio.Semaphore) -> None:
        """Send one row and record the outcome; the gate covers both so a crash loses one."""
        try:
            try:
                message_id = await self.sender.send(
                    row.chat_id, row.text, decode_keyboard(row.keyboard), row.photo
                )
            except SendRetryAfter as exc:
                self.pacer.pause(exc.seconds)
                self._retry_after(row, exc.seconds)
            except SendForbidden as exc:
                self._forbidden(row, str(exc))
            except SendBadRequest as exc:
                with session_scope(self.engine) as session:
                    row.attempts += 1
                    self._fail(session, row, f"bad request: {exc}", "bad_request")
                self.result.failed += 1
            except SendUnauthorized as exc:
                self.stop_reason = f"bot token rejected: {exc}"
                self.result.errors.append(self.stop_reason)
                logger.error("stopping dispatch: %s", self.stop_reason)
                self.release([row])
            except SendTransient as exc:
                self._transient(row, str(exc))
            except Exception as exc:  # an unexpected sender bug must not lose the row
                logger.exception("sender failed unexpectedly on notification %s", row.id)
                self._transient(row, f"{type(exc).__name__}: {exc}")
            else:
                self._sent(row, message_id)
        except Exception:  # the database failed while recording: the lease will bring it back
            logger.exception("could not record the outcome of notification %s", row.id)
            self.result.errors.append(f"record failed for notification {row.id}")
        finally:
            gate.release()

    def _sent(self, row: _Row, message_id: int) -> None:
        """Mark the row sent with Telegram's ids and put the send in the audit trail."""
        sent_at = self.stamp()
        with session_scope(self.engine) as session:
            done = session.execute(
                update(Notification)
                .where(col(Notification.id) == row.id)
                .where(col(Notification.status) != SENT)
                .values(
                    status=SENT,
                    chat_id=row.chat_id,
                    telegram_message_id=message_id,
                    sent_at=sent_at,
                    attempts=row.attempts + 1,
                    claimed_by=None,
                    last_error=None,
                )
            ).rowcount  # type: ignore[attr-defined]
            if not done:
                logger.warning("notification %s was already recorded as sent elsewhere", row.id)
            _record_row(
                session,
                row,
                "message_sent",
                at=sent_at,
                kind=row.kind,
                chat_id=row.chat_id,
                message_id=message_id,
            )
        self.result.sent += 1

    def _retry_after(self, row: _Row, seconds: float) -> None:
        """429 is Telegram pacing us, not the message's fault: wait as told, no attempt used."""
        with session_scope(self.engine) as session:
            _update(
                session,
                [row.id],
                self.worker_id,
                status=PENDING,
                claimed_by=None,
                claimed_at=None,
                next_attempt_at=self.stamp() + timedelta(seconds=seconds),
                last_error=f"429: retry after {seconds:g} s",
            )
        self.result.rate_limited += 1

    def _transient(self, row: _Row, error: str) -> None:
        """Back off exponentially; after MAX_ATTEMPTS the row fails visibly."""
        row.attempts += 1
        with session_scope(self.engine) as session:
            if row.attempts >= MAX_ATTEMPTS:
                self._fail(session, row, f"gave up: {error}", "gave_up")
                self.result.failed += 1
                return
            _update(
                session,
                [row.id],
                self.worker_id,
                status=PENDING,
                claimed_by=None,
                claimed_at=None,
                attempts=row.attempts,
                next_attempt_at=self.stamp() + timedelta(seconds=backoff_seconds(row.attempts)),
                last_error=error[:500],
            )
        logger.info("notification %s: transient failure %d (%s)", row.id, row.attempts, error)
        self.result.retried += 1

    def _forbidden(self, row: _Row, error: str) -> None:
        """403: mark the person unreachable, stop their messages, tell their manager once."""
        self.blocked.add(row.recipient_id)
        stamp = self.stamp()
        row.attempts += 1
        with session_scope(self.engine) as session:
            self._fail(session, row, f"blocked: {error}", "blocked")
            person = session.get(Staff, row.recipient_id)
            if person is not None and person.reachable:
                person.reachable = False
                person.unreachable_since = stamp
                session.add(person)
                record(
                    session,
                    at=stamp,
                    actor=SYSTEM,
                    action="staff_unreachable",
                    staff_id=person.staff_id,
                    error=error[:200],
                )
                self._tell_manager(session, person, stamp)
        self.result.blocked += 1

    def _tell_manager(self, session: Session, person: Staff, stamp: datetime) -> None:
        """One message to the line manager per person per day, by a unique outbox key."""
        if not person.manager_id:
            logger.warning("%s blocked the bot and has no line manager to tell", person.staff_id)
            return
        day = self.cal.local(stamp).date().isoformat()
        text = (
            f"{person.name} ({person.role.replace('_', ' ')}) can no longer receive IRObot "
            "messages: Telegram reports the bot was blocked. Their reminders are stopped "
            "until they open the bot again. Please make sure they still see their deadlines."
        )
        enqueue(
            session,
            key=f"unreachable:{person.staff_id}:{day}",
            recipient_id=person.manager_id,
            kind=UNREACHABLE_KIND,
            message=Message(text=text),
            at=stamp,
            cal=self.cal,
            hours=self.hours,
        )


def release_held(session: Session, staff_id: str, *, now: datetime) -> int:
    """Someone just linked (or re-linked): their held messages go at the next pass, not later.

    Called by the linking code in the caller's transaction; also marks them reachable again,
    since a fresh /start means they unblocked the bot.
    """
    person = session.get(Staff, staff_id)
    if person is not None and not person.reachable:
        person.reachable = True
        person.unreachable_since = None
        session.add(person)
    result = session.execute(
        update(Notification)
        .where(col(Notification.recipient_id) == staff_id)
        .where(col(Notification.status) == PENDING)
        .where(col(Notification.next_attempt_at) > now)
        .where(col(Notification.last_error).like("held:%"))
        .values(next_attempt_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def dispatch_pass(
    engine: Engine,
    sender: Sender,
    policy: Policy,
    *,
    now: datetime,
    worker_id: str,
    limit: int = 500,
    pacer: Pacer | None = None,
    lease_seconds: float = LEASE_SECONDS,
    max_seconds: float = 30.0,
    max_in_flight: int = 1,
) -> DispatchResult:
    """Claim due outbox rows and deliver them within quiet hours and Telegram's rate limits.

    `now` is the pass's wall-clock time (rules never read the clock); pacing uses
    `pacer.clock`, and stamps are `now` plus the pacer time elapsed. `max_seconds` must stay
    well under `lease_seconds` so that no other worker reclaims a row this pass still holds.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    pacer = pacer if pacer is not None else Pacer()
    run = _Pass(
        engine,
        sender,
        policy,
        now=now,
        worker_id=worker_id,
        pacer=pacer,
        max_seconds=min(max_seconds, lease_seconds / 2),
        max_in_flight=max(1, max_in_flight),
    )
    capacity = max(1, int(run.deadline - run.start) * int(pacer.per_second) + 1)
    open_now = run.hours.is_open(now, run.cal)
    with session_scope(engine) as session:
        rows, run.result.reclaimed = _claim(
            session,
            now=now,
            worker_id=worker_id,
            limit=min(limit, capacity) if open_now else 0,
            lease=timedelta(seconds=lease_seconds),
        )
    if not open_now:
        run.result.quiet = True
        return run.result
    run.result.claimed = len(rows)
    if not rows:
        return run.result
    ready = run.route(rows)
    await run.run(ready)
    logger.info("dispatch pass: %s", run.result)
    return run.result
