"""Deliver the outbox: pick due rows, send them paced within Telegram's limits, record each.

Several workers and crash safety come from when a row is claimed. A pass reads what is due
without claiming it, and claims one row (status `sending`, `claimed_by` this worker) only when
its pacing slot has come, in one short transaction; it sends, then records the outcome in a
second one that changes the row only if this worker still holds it. A row is therefore
`sending` only while it is in flight, and a heartbeat renews its `claimed_at` while a reply is
slow, so another worker reclaims it (once the lease has run out) only if its holder died. A
crash leaves at most `max_in_flight` rows `sending` (one by default); the pass that reclaims
them sends them again, audited as possibly duplicated. So the only message that can reach a
phone twice after a crash is one that was in flight when the process died.

A send whose outcome is unknown (no reply in time, an unreadable reply, a sender bug) may have
arrived: it is sent once more, audited as possibly duplicated, and if that try is unknown too
the row fails with reason `outcome_unknown`, for `irobot report`, rather than risk a third copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, and_, case, literal, select, update
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from models.audit import SYSTEM, record
from models.buttons import Message, decode_keyboard
from models.db import session_scope
from models.tables import Notification, Obligation, Staff
from models.vocabulary import FAILED, PENDING, SENDING, SENT, role_label
from scheduler.notify import enqueue
from scheduler.policy import Policy
from scheduler.senders import (
    SendBadRequest,
    Sender,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    SendUnauthorized,
    SendUnknown,
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
# A slow reply keeps its row claimed: renew `claimed_at` this often, well within the shortest
# lease the settings allow (1 s), since a worker cannot know the leases of the others.
HEARTBEAT_SECONDS = 0.2
# `last_error` marks that an earlier send of the row may have arrived: its next send is
# audited as possibly duplicated, and an unknown outcome after UNKNOWN_MARK fails the row.
UNKNOWN_MARK = "outcome unknown: "
RECLAIMED_MARK = "reclaimed: "
RECLAIMED_NOTE = RECLAIMED_MARK + "its worker stopped while sending; it may have arrived"


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
    """What one pass did; every claimed row ends in exactly one of the counters up to `deferred`.

    `claimed` counts the due rows this pass took on (those it had no time for are `deferred`,
    left pending untouched); `skipped` the due rows another worker took first; `outcome_unknown`
    those among `retried` and `failed` whose send may have arrived all the same.
    """

    claimed: int = 0
    sent: int = 0
    held: int = 0
    retried: int = 0
    rate_limited: int = 0
    failed: int = 0
    blocked: int = 0
    deferred: int = 0
    reclaimed: int = 0
    skipped: int = 0
    outcome_unknown: int = 0
    quiet: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class _Row:
    """A due outbox row and where it goes; what to send is read when it is claimed."""

    id: int
    key: str
    recipient_id: str
    obligation_id: int | None
    kind: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    text: str = ""
    keyboard: str | None = None
    photo: bytes | None = None
    chat_id: int = 0
    case_ref: str | None = None


_PLAN_COLUMNS = (
    col(Notification.id),
    col(Notification.key),
    col(Notification.recipient_id),
    col(Notification.obligation_id),
    col(Notification.kind),
    col(Notification.attempts),
    col(Notification.last_error),
    col(Notification.next_attempt_at),
)
_CLAIM_COLUMNS = (
    col(Notification.text),
    col(Notification.keyboard),
    col(Notification.photo),
    col(Notification.attempts),
    col(Notification.last_error),
)


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending, past quiet hours and past any backoff, as of `now`."""
    return and_(
        col(Notification.status) == PENDING,
        col(Notification.not_before) <= now,
        col(Notification.next_attempt_at) <= now,
    )


def _maybe_sent(last_error: str | None) -> bool:
    """Whether an earlier send of the row may have reached the phone after all."""
    return bool(last_error) and str(last_error).startswith((UNKNOWN_MARK, RECLAIMED_MARK))


def _reclaim(session: Session, *, now: datetime, lease: timedelta) -> int:
    """Rows whose holder stopped renewing its claim for a lease go back to pending.

    Their holder died mid-send, so the message may have arrived: the row is marked so that
    the next send is audited as possibly duplicated (an unknown outcome keeps its own mark).
    """
    result = session.execute(
        update(Notification)
        .where(col(Notification.status) == SENDING)
        .where(col(Notification.claimed_at) < now - lease)
        .values(
            status=PENDING,
            claimed_by=None,
            claimed_at=None,
            last_error=case(
                (col(Notification.last_error).like(f"{UNKNOWN_MARK}%"), Notification.last_error),
                else_=literal(RECLAIMED_NOTE),
            ),
        )
    )
    reclaimed = int(result.rowcount)  # type: ignore[attr-defined]
    if reclaimed:
        logger.warning("reclaimed %d notification(s) left sending past their lease", reclaimed)
    return reclaimed


def _plan(session: Session, *, now: datetime, limit: int) -> list[_Row]:
    """Up to `limit` due rows in sending order, read without claiming them."""
    rows = session.execute(
        select(*_PLAN_COLUMNS)
        .where(_due(now))
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
    ).all()
    return [_Row(*row) for row in rows]


def _take(session: Session, row_id: int, *, now: datetime, **values: Any) -> Row[Any] | None:
    """Change one row only if it is still pending and due; None when another worker has it.

    Returns what to send, read in the same statement. PostgreSQL skips a row another
    transaction has locked rather than waiting for it.
    """
    stmt = update(Notification).values(**values).returning(*_CLAIM_COLUMNS)
    if session.get_bind().dialect.name == "postgresql":
        pick = select(col(Notification.id)).where(col(Notification.id) == row_id, _due(now))
        stmt = stmt.where(col(Notification.id).in_(pick.with_for_update(skip_locked=True)))
    else:  # SQLite: one statement is atomic under the database write lock
        stmt = stmt.where(col(Notification.id) == row_id, _due(now))
    return session.execute(stmt).first()


def _noted(row: _Row, error: str) -> str:
    """The row's next `last_error`, keeping the mark that an earlier send may have arrived."""
    previous = row.last_error or ""
    if _maybe_sent(previous) and not _maybe_sent(error):
        mark = UNKNOWN_MARK if previous.startswith(UNKNOWN_MARK) else RECLAIMED_MARK
        error = f"{mark}an earlier send; since then: {error}"
    return error[:500]


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
    """One dispatch pass: the due rows, the pacing loop and the bookkeeping after each send."""

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
        self.in_flight: dict[int, float] = {}  # claimed row id -> when its claim was stamped

    def stamp(self, at: float | None = None) -> datetime:
        """Wall-clock instant of pacer time `at` (default: now), anchored on the pass's `now`."""
        elapsed = (self.pacer.clock() if at is None else at) - self.start
        return self.now + timedelta(seconds=max(elapsed, 0.0))

    # -- before sending -------------------------------------------------------------------

    def route(self, rows: Sequence[_Row]) -> list[_Row]:
        """Attach chat ids; hold rows of unlinked people, fail those of unreachable people."""
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
                    self._fail_blocked(session, row)
                else:
                    row.chat_id = int(person.chat_id)
                    ready.append(row)
        return ready

    def _hold(self, session: Session, row: _Row, reason: str) -> None:
        """Keep the row pending and look again later; audit only the first time it is held."""
        taken = _take(
            session,
            row.id,
            now=self.stamp(),
            next_attempt_at=self.now + HOLD_RECHECK,
            last_error=reason,
        )
        if taken is None:
            self.result.skipped += 1
            return
        if row.last_error != reason:
            _record_row(session, row, "message_held", at=self.now, reason=reason)
        self.result.held += 1

    def _fail(self, session: Session, row: _Row, error: str, reason: str, *, held: bool) -> bool:
        """Give up on one row for good; it stays in the table for `irobot report`.

        `held` says this worker claimed the row; otherwise it must still be pending and due.
        Returns False, auditing nothing, when the row is no longer this pass's to change.
        """
        values: dict[str, Any] = {
            "status": FAILED,
            "claimed_by": None,
            "last_error": error[:500],
            "attempts": row.attempts,
        }
        if held:
            done = _update(session, [row.id], self.worker_id, **values) > 0
        else:
            done = _take(session, row.id, now=self.stamp(), **values) is not None
        if not done:
            logger.warning("notification %s changed hands before it could be failed", row.id)
            return False
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
        return True

    def _release(self, row: _Row) -> None:
        """Hand a claimed row back to the queue untouched: it was never sent."""
        with session_scope(self.engine) as session:
            _update(
                session, [row.id], self.worker_id, status=PENDING, claimed_by=None, claimed_at=None
            )
        self.result.deferred += 1

    # -- the pacing loop ------------------------------------------------------------------

    async def run(self, rows: list[_Row]) -> None:
        """Send every row as early as the per-chat and global spacing allow, within the horizon.

        Each row is claimed only when its slot has come, so nothing waits for pacing while
        claimed; rows the pass has no time for stay pending, untouched, as `deferred`.
        """
        queues: dict[int, deque[_Row]] = {}
        for row in rows:
            queues.setdefault(row.chat_id, deque()).append(row)
        heap = [(self.pacer.chat_ready(chat), n, chat) for n, chat in enumerate(queues)]
        heapq.heapify(heap)
        seq = len(heap)
        gate = asyncio.Semaphore(self.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while heap:
                _, _, chat = heapq.heappop(heap)
                queue = queues[chat]
                row = queue[0]
                if row.recipient_id in self.blocked:
                    queue.popleft()
                    self._fail_blocked_now(row)
                else:
                    await gate.acquire()
                    at = await self._wait_for_slot(chat)
                    if at is None:  # horizon, closing time or a rejected token: stop here
                        gate.release()
                        break
                    queue.popleft()
                    if row.recipient_id in self.blocked:  # a 403 arrived while we waited
                        gate.release()
                        self._fail_blocked_now(row)
                    elif not self._claim(row):
                        gate.release()
                        # Another worker has just sent it: keep this chat's spacing all the same.
                        self.pacer.take(chat, at)
                    else:
                        self.pacer.take(chat, at)
                        task = asyncio.create_task(self._deliver(row, gate))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                if queue:
                    seq += 1
                    heapq.heappush(heap, (self.pacer.chat_ready(chat), seq, chat))
        except asyncio.CancelledError:  # shutdown: in-flight sends end as outcome unknown
            for task in tasks:
                task.cancel()
            raise
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self.result.deferred += sum(len(queue) for queue in queues.values())

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

    def _fail_blocked(self, session: Session, row: _Row) -> None:
        """A message to someone who blocked the bot or cannot be reached: fail it unsent."""
        error = "blocked: recipient blocked the bot or cannot be reached"
        if self._fail(session, row, error, "blocked", held=False):
            self.result.blocked += 1
        else:
            self.result.skipped += 1

    def _fail_blocked_now(self, row: _Row) -> None:
        """`_fail_blocked` in a transaction of its own, from the pacing loop."""
        with session_scope(self.engine) as session:
            self._fail_blocked(session, row)

    def _claim(self, row: _Row) -> bool:
        """Take the row for sending as its slot comes; False when another worker has it.

        A row an earlier send of which may have arrived is audited as possibly duplicated
        here, in the claim's transaction, before it goes again.
        """
        stamp = self.stamp()
        with session_scope(self.engine) as session:
            fresh = _take(
                session,
                row.id,
                now=stamp,
                status=SENDING,
                claimed_by=self.worker_id,
                claimed_at=stamp,
            )
            if fresh is None:
                self.result.skipped += 1
                return False
            row.text, row.keyboard, row.photo, row.attempts, row.last_error = tuple(fresh)
            if _maybe_sent(row.last_error):
                _record_row(
                    session,
                    row,
                    "message_possibly_duplicated",
                    at=stamp,
                    kind=row.kind,
                    chat_id=row.chat_id,
                    previous=str(row.last_error)[:200],
                )
        self.in_flight[row.id] = time.monotonic()
        return True

    async def _heartbeat(self) -> None:
        """Renew the claim of every send slower than a beat, so no other worker reclaims it."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            now = time.monotonic()
            slow = [i for i, at in self.in_flight.items() if now - at >= HEARTBEAT_SECONDS]
            if not slow:
                continue
            try:
                with session_scope(self.engine) as session:
                    _update(session, slow, self.worker_id, claimed_at=self.stamp())
            except Exception:  # the next beat tries again; the lease is several beats long
                logger.warning("could not renew the claim on %s", slow, exc_info=True)
                continue
            for row_id in slow:
                if row_id in self.in_flight:
                    self.in_flight[row_id] = now

    # -- one send and its record ----------------------------------------------------------

    async def _deliver(self, row: _Row, gate: asyncio.Semaphore) -> None:
        """Send one row and record the outcome; the gate covers both so a crash loses one."""
        try:
            try:
                message_id = await self.sender.send(
                    row.chat_id, row.text, decode_keyboard(row.keyboard), row.photo
                )
            except asyncio.CancelledError:  # stopped mid-send: it may or may not have gone
                self._unknown(row, "the send was cancelled at shutdown")
                raise
            except SendRetryAfter as exc:
                self.pacer.pause(exc.seconds)
                self._retry_after(row, exc.seconds)
            except SendForbidden as exc:
                self._forbidden(row, str(exc))
            except SendBadRequest as exc:
                with session_scope(self.engine) as session:
                    row.attempts += 1
                    self._fail(session, row, f"bad request: {exc}", "bad_request", held=True)
                self.result.failed += 1
            except SendUnauthorized as exc:
                self.stop_reason = f"bot token rejected: {exc}"
                self.result.errors.append(self.stop_reason)
                logger.error("stopping dispatch: %s", self.stop_reason)
                self._release(row)
            except SendTransient as exc:
                self._transient(row, str(exc))
            except SendUnknown as exc:
                self._unknown(row, str(exc))
            except Exception as exc:  # a sender bug: it may have sent before failing
                logger.exception("sender failed unexpectedly on notification %s", row.id)
                self._unknown(row, f"{type(exc).__name__}: {exc}")
            else:
                self._sent(row, message_id)
        except Exception:  # the database failed while recording: the lease will bring it back
            logger.exception("could not record the outcome of notification %s", row.id)
            self.result.errors.append(f"record failed for notification {row.id}")
        finally:
            self.in_flight.pop(row.id, None)
            gate.release()

    def _sent(self, row: _Row, message_id: int) -> None:
        """Mark the row sent with Telegram's ids and put the send in the audit trail.

        Only while this worker still holds it: if another worker took it over (this one's
        claim lapsed), the send is audited as possibly duplicated instead of marking the row.
        """
        sent_at = self.stamp()
        with session_scope(self.engine) as session:
            done = _update(
                session,
                [row.id],
                self.worker_id,
                status=SENT,
                chat_id=row.chat_id,
                telegram_message_id=message_id,
                sent_at=sent_at,
                attempts=row.attempts + 1,
                claimed_by=None,
                last_error=None,
            )
            if not done:
                logger.warning(
                    "notification %s was taken over while this worker sent it: it may arrive twice",
                    row.id,
                )
            _record_row(
                session,
                row,
                "message_sent" if done else "message_possibly_duplicated",
                at=sent_at,
                kind=row.kind,
                chat_id=row.chat_id,
                message_id=message_id,
                **({} if done else {"previous": "sent after another worker took the row over"}),
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
                last_error=_noted(row, f"429: retry after {seconds:g} s"),
            )
        self.result.rate_limited += 1

    def _transient(self, row: _Row, error: str) -> None:
        """Back off exponentially; after MAX_ATTEMPTS the row fails visibly."""
        row.attempts += 1
        with session_scope(self.engine) as session:
            if row.attempts >= MAX_ATTEMPTS:
                self._fail(session, row, f"gave up: {error}", "gave_up", held=True)
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
                last_error=_noted(row, error),
            )
        logger.info("notification %s: transient failure %d (%s)", row.id, row.attempts, error)
        self.result.retried += 1

    def _unknown(self, row: _Row, error: str) -> None:
        """It may have arrived: send it once more, after a backoff, but never a third time."""
        row.attempts += 1
        self.result.outcome_unknown += 1
        again = (row.last_error or "").startswith(UNKNOWN_MARK)
        with session_scope(self.engine) as session:
            if again or row.attempts >= MAX_ATTEMPTS:
                self._fail(session, row, f"{UNKNOWN_MARK}{error}", "outcome_unknown", held=True)
                self.result.failed += 1
                logger.warning("notification %s failed: outcome unknown again (%s)", row.id, error)
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
                last_error=f"{UNKNOWN_MARK}{error}"[:500],
            )
        logger.warning("notification %s: outcome unknown (%s); sending once more", row.id, error)
        self.result.retried += 1

    def _forbidden(self, row: _Row, error: str) -> None:
        """Blocked, gone or not allowed: mark the person unreachable, stop, tell their manager."""
        self.blocked.add(row.recipient_id)
        stamp = self.stamp()
        row.attempts += 1
        with session_scope(self.engine) as session:
            self._fail(session, row, f"blocked: {error}", "blocked", held=True)
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
                self._tell_manager(session, person, stamp, error)
        self.result.blocked += 1

    def _tell_manager(self, session: Session, person: Staff, stamp: datetime, error: str) -> None:
        """One message to the line manager per person per day, by a unique outbox key."""
        if not person.manager_id:
            logger.warning("%s cannot be reached and has no line manager to tell", person.staff_id)
            return
        day = self.cal.local(stamp).date().isoformat()
        text = (
            f"{person.name} ({role_label(person.role)}) can no longer receive IRObot "
            f"messages: Telegram reports {_why_unreachable(error)}. Their reminders are "
            "stopped until they open the bot again. Please make sure they still see their "
            "deadlines."
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


def _why_unreachable(error: str) -> str:
    """Telegram's answer as a manager can read it: blocked, or why the chat cannot be reached."""
    if "blocked" in error.lower():
        return "the bot was blocked"
    detail = error.split(": ", 1)[-1] if error.startswith(("Bad Request", "Forbidden")) else error
    return f"their chat cannot be reached ({detail[:1].lower()}{detail[1:80]})"


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
    """Deliver due outbox rows within quiet hours and Telegram's rate limits, for `max_seconds`.

    `now` is the pass's wall-clock time (rules never read the clock); pacing uses
    `pacer.clock`, and stamps (`claimed_at` too) are `now` plus the pacer time elapsed.
    `lease_seconds` is how long a row may stay `sending` without its holder renewing the
    claim before this pass reclaims it. A pass claims each row only as it sends it and renews
    the claim while a reply is slow, so its length is not bound by anyone's lease.
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
        max_seconds=max_seconds,
        max_in_flight=max(1, max_in_flight),
    )
    capacity = max(1, int(run.deadline - run.start) * int(pacer.per_second) + 1)
    open_now = run.hours.is_open(now, run.cal)
    with session_scope(engine) as session:
        run.result.reclaimed = _reclaim(session, now=now, lease=timedelta(seconds=lease_seconds))
    if not open_now:
        run.result.quiet = True
        return run.result
    with session_scope(engine) as session:
        rows = _plan(session, now=now, limit=min(limit, capacity))
    if not rows:
        return run.result
    try:
        ready = run.route(rows)
        await run.run(ready)
    finally:
        run.result.claimed = len(rows) - run.result.skipped
    logger.info("dispatch pass: %s", run.result)
    return run.result
