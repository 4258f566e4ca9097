"""Deliver the outbox: pick due rows, send them in turn through the `Sender`, record each.

The sender paces (the bot's rate limiter, or `PacedSender` around a sender that is not
Telegram): dispatch only asks its pacing when a chat is next free, so it sends chats in turn
(a busy chat does not hold up the others), stops at its horizon or at closing time, and never
claims a row it has no time for.

Several workers and crash safety come from when a row is claimed. A pass reads what is due
without claiming it, and claims one row (status `sending`, `claimed_by` this worker) only when
its chat's turn has come, in one short transaction; it sends, then records the outcome in a
second one that changes the row only if this worker still holds it (`scheduler.outcomes`). A
row is therefore `sending` only while it is in flight, and a heartbeat renews its `claimed_at`
while a reply is slow, so another worker reclaims it (once the lease has run out) only if its
holder died. A crash leaves at most `max_in_flight` rows `sending` (one by default); the pass
that reclaims them sends them again, audited as possibly duplicated. So the only message that
can reach a phone twice after a crash is one that was in flight when the process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlmodel import col
from sqlmodel import select as sqlmodel_select

from models.buttons import decode_keyboard
from models.db import session_scope
from models.tables import Obligation, Staff
from models.vocabulary import SENDING
from scheduler.claims import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    OutboxRow,
    backoff_seconds,
    maybe_sent,
    plan_due,
    reclaim_expired,
    record_row,
    release_held,
    take_if_due,
    update_held,
)
from scheduler.outcomes import DispatchResult, Outcomes
from scheduler.pacing import OUTBOX, Pacing, pacing_of
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

__all__ = [
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "DispatchResult",
    "backoff_seconds",
    "dispatch_pass",
    "release_held",
]

logger = logging.getLogger(__name__)

# A slow reply keeps its row claimed: renew `claimed_at` this often, well within the shortest
# lease the settings allow (1 s), since a worker cannot know the leases of the others.
HEARTBEAT_SECONDS = 0.2


class _Pass:
    """One dispatch pass: the due rows, the sending loop and the claims it holds."""

    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        policy: Policy,
        *,
        now: datetime,
        worker_id: str,
        pacing: Pacing,
        max_seconds: float,
        max_in_flight: int,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.cal = policy.calendar()
        self.hours = policy.hours()
        self.now = now
        self.worker_id = worker_id
        self.pacing = pacing
        self.start = pacing.now()
        self.deadline = self.start + max_seconds
        self.max_in_flight = max_in_flight
        self.outcomes = Outcomes(engine, policy, now=now, worker_id=worker_id, stamp=self.stamp)
        self.result = self.outcomes.result
        self.stop_reason: str | None = None
        self.in_flight: dict[int, float] = {}  # claimed row id -> when its claim was stamped

    def stamp(self, at: float | None = None) -> datetime:
        """Wall-clock instant of pacing time `at` (default: now), anchored on the pass's `now`."""
        elapsed = (self.pacing.now() if at is None else at) - self.start
        return self.now + timedelta(seconds=max(elapsed, 0.0))

    def route(self, rows: Sequence[OutboxRow]) -> list[OutboxRow]:
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
            ready: list[OutboxRow] = []
            for row in rows:
                row.case_ref = cases.get(row.obligation_id) if row.obligation_id else None
                person = staff.get(row.recipient_id)
                if person is None:
                    self.outcomes.hold(session, row, "held: recipient not in the staff list")
                elif not person.active:
                    self.outcomes.hold(session, row, "held: recipient is inactive")
                elif person.chat_id is None:
                    self.outcomes.hold(session, row, "held: recipient has not linked Telegram")
                elif not person.reachable:
                    self.outcomes.fail_blocked(session, row)
                else:
                    row.chat_id = int(person.chat_id)
                    ready.append(row)
        return ready

    # -- the sending loop -----------------------------------------------------------------

    async def run(self, rows: list[OutboxRow]) -> None:
        """Send chats in turn, each row as early as the sender's pacing allows, within the horizon.

        The chat whose next slot comes first goes next (ties in turn, so a busy chat does not
        hold up the others). Each row is claimed only when its chat's turn has come, so nothing
        waits for pacing while claimed; rows the pass has no time for stay pending, untouched,
        as `deferred`.
        """
        queues: dict[int, deque[OutboxRow]] = {}
        for row in rows:
            queues.setdefault(row.chat_id, deque()).append(row)
        heap = [(self.pacing.chat_ready(chat), n, chat) for n, chat in enumerate(queues)]
        heapq.heapify(heap)
        seq = len(heap)
        gate = asyncio.Semaphore(self.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        heartbeat = asyncio.create_task(self._heartbeat())
        blocked = self.outcomes.blocked
        try:
            while heap:
                ready, _, chat = heapq.heappop(heap)
                queue = queues[chat]
                row = queue[0]
                if row.recipient_id in blocked:
                    queue.popleft()
                    self.outcomes.fail_blocked_now(row)
                else:
                    await gate.acquire()
                    if self.pacing.chat_ready(chat) > ready:  # booked since: back in line
                        gate.release()
                        seq += 1
                        heapq.heappush(heap, (self.pacing.chat_ready(chat), seq, chat))
                        continue
                    if not await self._wait_for_turn(chat):
                        gate.release()  # horizon, closing time or a rejected token: stop here
                        break
                    queue.popleft()
                    if row.recipient_id in blocked:  # a 403 arrived while we waited
                        gate.release()
                        self.outcomes.fail_blocked_now(row)
                    elif not self._claim(row):
                        gate.release()
                        # Another worker has just sent it: keep this chat's spacing all the same.
                        self.pacing.take(chat, OUTBOX)
                    else:
                        task = asyncio.create_task(self._deliver(row, gate))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        await asyncio.sleep(0)  # the send takes its slot: the chat's next is known
                if queue:
                    seq += 1
                    heapq.heappush(heap, (self.pacing.chat_ready(chat), seq, chat))
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

    async def _wait_for_turn(self, chat: int) -> bool:
        """Sleep until this chat's slot; False when the pass must stop instead of sending."""
        while True:
            if self.stop_reason is not None:
                return False
            at = self.pacing.slot(chat, OUTBOX)
            if at > self.deadline:
                return False
            if not self.hours.is_open(self.stamp(at), self.cal):
                return False
            wait = at - self.pacing.now()
            if wait <= 0:
                return True
            await self.pacing.sleep(wait)

    def _claim(self, row: OutboxRow) -> bool:
        """Take the row for sending as its turn comes; False when another worker has it.

        A row an earlier send of which may have arrived is audited as possibly duplicated
        here, in the claim's transaction, before it goes again.
        """
        stamp = self.stamp()
        with session_scope(self.engine) as session:
            fresh = take_if_due(
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
            if maybe_sent(row.last_error):
                record_row(
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
                    update_held(session, slow, self.worker_id, claimed_at=self.stamp())
            except Exception:  # the next beat tries again; the lease is several beats long
                logger.warning("could not renew the claim on %s", slow, exc_info=True)
                continue
            for row_id in slow:
                if row_id in self.in_flight:
                    self.in_flight[row_id] = now

    async def _deliver(self, row: OutboxRow, gate: asyncio.Semaphore) -> None:
        """Send one row and record the outcome; the gate covers both so a crash loses one.

        A 429 has already paused the sender's pacing (everything waits); here it only
        reschedules the row.
        """
        outcomes = self.outcomes
        try:
            try:
                message_id = await self.sender.send(
                    row.chat_id, row.text, decode_keyboard(row.keyboard), row.photo
                )
            except asyncio.CancelledError:  # stopped mid-send: it may or may not have gone
                outcomes.unknown(row, "the send was cancelled at shutdown")
                raise
            except SendRetryAfter as exc:
                outcomes.retry_after(row, exc.seconds)
            except SendForbidden as exc:
                outcomes.forbidden(row, str(exc))
            except SendBadRequest as exc:
                outcomes.bad_request(row, str(exc))
            except SendUnauthorized as exc:
                self.stop_reason = f"bot token rejected: {exc}"
                self.result.errors.append(self.stop_reason)
                logger.error("stopping dispatch: %s", self.stop_reason)
                outcomes.release(row)
            except SendTransient as exc:
                outcomes.transient(row, str(exc))
            except SendUnknown as exc:
                outcomes.unknown(row, str(exc))
            except Exception as exc:  # a sender bug: it may have sent before failing
                logger.exception("sender failed unexpectedly on notification %s", row.id)
                outcomes.unknown(row, f"{type(exc).__name__}: {exc}")
            else:
                outcomes.sent(row, message_id)
        except Exception:  # the database failed while recording: the lease will bring it back
            logger.exception("could not record the outcome of notification %s", row.id)
            self.result.errors.append(f"record failed for notification {row.id}")
        finally:
            self.in_flight.pop(row.id, None)
            gate.release()


async def dispatch_pass(
    engine: Engine,
    sender: Sender,
    policy: Policy,
    *,
    now: datetime,
    worker_id: str,
    limit: int = 500,
    lease_seconds: float = LEASE_SECONDS,
    max_seconds: float = 30.0,
    max_in_flight: int = 1,
) -> DispatchResult:
    """Deliver due outbox rows within quiet hours and Telegram's rate limits, for `max_seconds`.

    `now` is the pass's wall-clock time (rules never read the clock); the horizon is on the
    clock of the sender's pacing (`scheduler.pacing.pacing_of`: the bot's limiter, or a
    simulated one), and stamps (`claimed_at` too) are `now` plus that clock's time elapsed.
    `lease_seconds` is how long a row may stay `sending` without its holder renewing the
    claim before this pass reclaims it. A pass claims each row only as it sends it and renews
    the claim while a reply is slow, so its length is not bound by anyone's lease.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    pacing = pacing_of(sender)
    run = _Pass(
        engine,
        sender,
        policy,
        now=now,
        worker_id=worker_id,
        pacing=pacing,
        max_seconds=max_seconds,
        max_in_flight=max(1, max_in_flight),
    )
    capacity = limit
    if math.isfinite(pacing.per_second):
        capacity = max(1, int(run.deadline - run.start) * int(pacing.per_second) + 1)
    open_now = run.hours.is_open(now, run.cal)
    with session_scope(engine) as session:
        run.result.reclaimed = reclaim_expired(
            session, now=now, lease=timedelta(seconds=lease_seconds)
        )
    if not open_now:
        run.result.quiet = True
        return run.result
    with session_scope(engine) as session:
        rows = plan_due(session, now=now, limit=min(limit, capacity))
    if not rows:
        return run.result
    try:
        ready = run.route(rows)
        await run.run(ready)
    finally:
        run.result.claimed = len(rows) - run.result.skipped
    logger.info("dispatch pass: %s", run.result)
    return run.result
